#pragma once

// s3_bucket: objects as S3 objects. An object that stays within one part (part_bytes) is sent with one
// PutObject when it completes; a larger one becomes a multipart upload: CreateMultipartUpload when its
// first part is full, then UploadPart for every part_bytes of output (several parts in flight per
// object and across objects, both bounded), and CompleteMultipartUpload with the last, shorter part.
// Every request carries the body's CRC32C; every request is tried again with backoff under the retry
// options (S3 answers to retry with 5xx, SlowDown, timeouts and resets).
//
// Crash safety: the upload id is written to a state file (upload_state.hpp) before the first part is
// sent. After a restart the engine rebuilds the object from its journal with the same bytes; its
// upload finds the state file, asks S3 which parts it has (ListParts) and sends only the others: a part
// S3 has with the same size and CRC32C is reused. A state file no replayed object claims belongs to
// an abandoned upload, which recovered() aborts. A service without ListParts (some S3-compatible ones,
// s3rver) gets every part again in a new upload. A CompleteMultipartUpload retried after a lost answer
// may find the upload gone (NoSuchUpload): that is taken as completed.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/s3.hpp>
#include <sluice/core/async_scope.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/formats/object_format.hpp>
#include <sluice/objects/destination.hpp>
#include <sluice/objects/retry.hpp>
#include <sluice/objects/upload_state.hpp>

namespace sluice::objects {

/// Options of an s3_bucket.
struct s3_bucket_options {
    /// The size of every part but the last, and the largest object sent with one PutObject. Between
    /// S3's minimum (5 MiB) and maximum (5 GiB) part size. An object closes before it would need more
    /// than S3's 10,000 parts.
    std::uint64_t part_bytes = std::uint64_t{8} << 20;
    /// Parts of one object in flight at once.
    std::size_t parts_in_flight = 4;
    /// Parts in flight across every object of the destination (each holds part_bytes of memory).
    std::size_t max_parts_in_flight = 16;
    /// Where multipart upload states are kept (one file per upload in progress).
    std::filesystem::path state_directory;
    /// Every request is tried again under these.
    retry_options retry{.max_attempts = 10, .initial_backoff = std::chrono::milliseconds(100),
                        .max_backoff = std::chrono::milliseconds(20'000), .max_elapsed = std::chrono::milliseconds(600'000)};
    /// Warnings (unreadable state files, aborted uploads) go here.
    const logger* log = nullptr;
};

class s3_bucket;

namespace detail {

/// An abort's answer: NoSuchUpload means there is nothing left to abort.
[[nodiscard]] inline outcome aborted(const aws::s3_result<aws::s3_done>& r) {
    if (r.ok() || r.is("NoSuchUpload")) return outcome::ok();
    return r.to_outcome();
}

/// One object on its way to S3 (see s3_bucket).
class s3_upload final : public object_upload {
public:
    s3_upload(s3_bucket& bucket, object_description d, std::optional<upload_state> resume);
    ~s3_upload() override = default;

    task<void> write(std::string bytes) override;
    task<object_result> complete() override;
    task<void> abort() override;
    [[nodiscard]] std::optional<outcome> failure() const override { return failure_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return pending_.capacity() + in_flight_bytes_; }

private:
    task<void> cut_part(std::string body);
    task<bool> ensure_upload();
    task<void> send_part(std::uint32_t number, std::string body);
    task<outcome> put_whole();
    task<outcome> finish_multipart();
    void fail(outcome o) {
        if (!failure_) failure_ = std::move(o);
    }
    [[nodiscard]] aws::s3_object_headers headers() const {
        return {object_.content_type, object_.content_encoding};
    }

    s3_bucket* bucket_;
    object_description object_;
    std::uint64_t part_bytes_;
    std::string pending_;
    std::uint64_t total_ = 0;
    std::uint32_t next_part_ = 1;
    std::optional<std::string> upload_id_;
    std::optional<upload_state> resume_;
    std::map<std::uint32_t, aws::s3_part> listed_;
    std::map<std::uint32_t, aws::s3_part> parts_;
    std::size_t in_flight_bytes_ = 0;
    async_semaphore own_slots_;
    async_scope scope_;
    unsigned retries_ = 0;
    unsigned reused_ = 0;
    std::optional<outcome> failure_{};
};

} // namespace detail

/// Objects in an S3 bucket (see the top of this header).
class s3_bucket final : public object_destination {
public:
    /// Throws std::invalid_argument for a part size outside S3's limits or no state directory.
    s3_bucket(io_loop& loop, aws::s3_client& client, s3_bucket_options options)
        : loop_(&loop), client_(&client), options_(std::move(options)), backoff_(options_.retry),
          slots_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, options_.max_parts_in_flight))),
          store_(loop, check(options_, client.limits())) {}

    [[nodiscard]] std::string_view kind() const noexcept override { return "s3"; }

    task<void> open() override {
        store_.load([this](const std::string& why) { warn(why); });
        co_return;
    }

    std::unique_ptr<object_upload> begin(const object_description& object) override {
        return std::make_unique<detail::s3_upload>(*this, object, store_.claim(object.sequence));
    }

    /// Aborts the multipart uploads no replayed object claimed.
    task<void> recovered() override {
        for (const upload_state& s : store_.take_unclaimed()) {
            auto attempt = [&]() -> task<outcome> {
                auto r = co_await client_->abort_multipart_upload(s.key, s.upload_id);
                co_return detail::aborted(r);
            };
            unsigned retries = 0;
            const outcome o = co_await detail::with_retries(*loop_, backoff_, attempt, retries, client_->stop_token());
            if (o.is_ok()) {
                ++aborted_;
                store_.remove(s.sequence);
            } else {
                warn("cannot abort the abandoned upload of " + client_->location(s.key) + ": " + o.describe() +
                     " (tried again at the next start)");
            }
        }
    }

    /// 10,000 parts of part_bytes (or S3's largest object).
    [[nodiscard]] std::uint64_t max_object_bytes() const noexcept override {
        const auto& limits = client_->limits();
        return std::min(limits.max_object_bytes, options_.part_bytes * limits.max_parts);
    }

    /// Abandons the requests in flight (stop's deadline): uploads end with outcome `cancelled`.
    void cancel() override { client_->cancel(); }

    /// The S3 client it uploads with.
    [[nodiscard]] aws::s3_client& client() const noexcept { return *client_; }
    /// The loop it runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    /// How failed requests are retried.
    [[nodiscard]] backoff_policy& backoff() noexcept { return backoff_; }
    /// Bounds the requests in flight.
    [[nodiscard]] async_semaphore& slots() noexcept { return slots_; }
    /// Where multipart uploads are recorded so a restart resumes them.
    [[nodiscard]] upload_state_store& store() noexcept { return store_; }
    /// The options it was made with.
    [[nodiscard]] const s3_bucket_options& options() const noexcept { return options_; }
    /// Abandoned uploads aborted at the last start.
    [[nodiscard]] std::size_t aborted_uploads() const noexcept { return aborted_; }
    /// Parts a resumed upload found at S3 and did not send again, since construction.
    [[nodiscard]] std::size_t reused_parts() const noexcept { return reused_parts_; }
    /// Counts a part reused by a resumed upload.
    void count_reused() noexcept { ++reused_parts_; }
    /// Objects sent with one PutObject, since construction.
    [[nodiscard]] std::size_t objects_put() const noexcept { return put_; }
    /// Multipart uploads completed, since construction.
    [[nodiscard]] std::size_t uploads_completed() const noexcept { return completed_; }
    /// Parts sent (UploadPart calls that succeeded), since construction.
    [[nodiscard]] std::size_t parts_sent() const noexcept { return parts_; }
    /// Counts an object sent with PutObject.
    void count_put() noexcept { ++put_; }
    /// Counts a completed multipart upload.
    void count_completed() noexcept { ++completed_; }
    /// Counts a part sent.
    void count_part() noexcept { ++parts_; }

    /// Logs a warning about this destination (when a logger is set); `why` must hold no secret.
    void warn(const std::string& why) const {
        if (options_.log) options_.log->warn("objects", why, {field::plain("destination", "s3")});
    }

private:
    static std::filesystem::path check(const s3_bucket_options& o, const aws::s3_limits& limits) {
        if (o.part_bytes < limits.min_part_bytes || o.part_bytes > limits.max_part_bytes)
            throw std::invalid_argument("sluice::objects::s3_bucket: part_bytes must be between S3's " +
                                        std::to_string(limits.min_part_bytes) + " and " +
                                        std::to_string(limits.max_part_bytes));
        if (o.state_directory.empty()) throw std::invalid_argument("sluice::objects::s3_bucket: no state_directory");
        return o.state_directory;
    }

    io_loop* loop_;
    aws::s3_client* client_;
    s3_bucket_options options_;
    backoff_policy backoff_;
    async_semaphore slots_;
    upload_state_store store_;
    std::size_t aborted_ = 0;
    std::size_t reused_parts_ = 0;
    std::size_t put_ = 0, completed_ = 0, parts_ = 0;
};

namespace detail {

inline s3_upload::s3_upload(s3_bucket& bucket, object_description d, std::optional<upload_state> resume)
    : bucket_(&bucket), object_(std::move(d)), part_bytes_(bucket.options().part_bytes), resume_(std::move(resume)),
      own_slots_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, bucket.options().parts_in_flight))) {
    // A resumed upload cuts its parts where the first run did.
    if (resume_ && resume_->key == object_.key && resume_->bucket == bucket.client().options().bucket)
        part_bytes_ = resume_->part_bytes;
    else if (resume_) // another object's state under this sequence number: abandoned
        resume_.reset();
}

inline task<void> s3_upload::write(std::string bytes) {
    if (failure_) co_return;
    total_ += bytes.size();
    if (pending_.empty()) {
        pending_.swap(bytes);
    } else {
        pending_.append(bytes);
        formats::recycle_output(std::move(bytes));
    }
    while (pending_.size() >= part_bytes_ && !failure_) {
        std::string rest(pending_.data() + part_bytes_, pending_.size() - part_bytes_);
        pending_.resize(part_bytes_);
        std::string body;
        body.swap(pending_);
        pending_.swap(rest);
        co_await cut_part(std::move(body));
    }
}

/// Sends one full part (or reuses the one S3 has), waiting for a slot.
inline task<void> s3_upload::cut_part(std::string body) {
    if (!co_await ensure_upload()) co_return;
    const std::uint32_t number = next_part_++;
    if (const auto it = listed_.find(number); it != listed_.end()) {
        const std::string checksum = aws::s3_checksum_crc32c(body);
        std::string known = it->second.checksum_crc32c;
        if (known.empty() && resume_)
            if (const auto p = resume_->parts.find(number); p != resume_->parts.end()) known = p->second.checksum;
        if (it->second.size == body.size() && known == checksum) {
            aws::s3_part reused = it->second;
            reused.checksum_crc32c = checksum;
            parts_[number] = std::move(reused);
            ++reused_;
            bucket_->count_reused();
            co_return;
        }
    }
    co_await own_slots_.acquire();
    co_await bucket_->slots().acquire();
    in_flight_bytes_ += body.size();
    scope_.spawn(send_part(number, std::move(body)));
}

inline task<void> s3_upload::send_part(std::uint32_t number, std::string body) {
    aws::s3_client& client = bucket_->client();
    std::optional<aws::s3_part> sent;
    auto attempt = [&]() -> task<outcome> {
        auto r = co_await client.upload_part(object_.key, *upload_id_, number, body);
        if (r.ok()) sent = std::move(*r.value);
        co_return r.to_outcome();
    };
    const outcome o = co_await with_retries(bucket_->loop(), bucket_->backoff(), attempt, retries_, bucket_->client().stop_token());
    in_flight_bytes_ -= body.size();
    const std::uint64_t size = body.size();
    std::string().swap(body);
    bucket_->slots().release();
    own_slots_.release();
    if (!o.is_ok() || !sent) {
        fail(o);
        co_return;
    }
    parts_[number] = *sent;
    bucket_->count_part();
    const recorded_part record{size, sent->checksum_crc32c, sent->etag};
    try {
        co_await bucket_->store().add_part(object_.sequence, number, record);
    } catch (const std::exception& e) { // only a hint for a resume: ListParts decides
        bucket_->warn(std::string("cannot record an uploaded part: ") + e.what());
    }
}

/// The upload id: a resumed upload's (after ListParts) or a new one's. False when the upload failed.
inline task<bool> s3_upload::ensure_upload() {
    if (upload_id_) co_return true;
    if (failure_) co_return false;
    aws::s3_client& client = bucket_->client();
    if (resume_) {
        std::optional<std::vector<aws::s3_part>> listed;
        bool gone = false;
        auto list = [&]() -> task<outcome> {
            auto r = co_await client.list_parts(object_.key, resume_->upload_id);
            if (r.is("NoSuchUpload")) {
                gone = true; // completed or aborted already: start again
                co_return outcome::ok();
            }
            if (r.is("MethodNotAllowed") || r.is("NotImplemented")) {
                // An S3-compatible service without ListParts (s3rver): the parts it has cannot be
                // checked, so every part is sent again in a new upload; the old one is left to the
                // bucket's lifecycle rules.
                bucket_->warn("the service cannot list the parts of the interrupted upload of " + client.location(object_.key) +
                              " (ListParts: " + r.failure.message + "); uploading every part again");
                gone = true;
                co_return outcome::ok();
            }
            if (r.ok()) listed = std::move(r.value);
            co_return r.to_outcome();
        };
        const outcome o = co_await with_retries(bucket_->loop(), bucket_->backoff(), list, retries_, bucket_->client().stop_token());
        if (!o.is_ok()) {
            fail(o);
            co_return false;
        }
        if (!gone && listed) {
            for (auto& p : *listed) listed_[p.number] = std::move(p);
            upload_id_ = resume_->upload_id;
            co_return true;
        }
        bucket_->store().remove(object_.sequence);
        resume_.reset();
    }
    std::optional<std::string> id;
    auto create = [&]() -> task<outcome> {
        auto r = co_await client.create_multipart_upload(object_.key, headers());
        if (r.ok()) id = std::move(*r.value);
        co_return r.to_outcome();
    };
    const outcome o = co_await with_retries(bucket_->loop(), bucket_->backoff(), create, retries_, bucket_->client().stop_token());
    if (!o.is_ok() || !id) {
        fail(o);
        co_return false;
    }
    upload_state state;
    state.sequence = object_.sequence;
    state.part_bytes = part_bytes_;
    state.bucket = client.options().bucket;
    state.key = object_.key;
    state.upload_id = *id;
    std::string why;
    try {
        co_await bucket_->store().create(state);
    } catch (const std::exception& e) {
        why = e.what();
    }
    if (!why.empty()) { // without the state a crash would abandon the upload: do not start it
        auto abort_created = [&]() -> task<outcome> {
            auto r = co_await client.abort_multipart_upload(object_.key, *id);
            co_return aborted(r);
        };
        unsigned ignored = 0;
        (void)co_await with_retries(bucket_->loop(), bucket_->backoff(), abort_created, ignored, bucket_->client().stop_token());
        fail(outcome::retry("cannot record the multipart upload's state: " + why));
        co_return false;
    }
    upload_id_ = std::move(id);
    co_return true;
}

inline task<object_result> s3_upload::complete() {
    object_result r;
    r.location = bucket_->client().location(object_.key);
    r.bytes = total_;
    if (!failure_) {
        const bool whole = !upload_id_ && total_ <= part_bytes_;
        if (whole) r.status = co_await put_whole();
        else r.status = co_await finish_multipart();
        if (r.status.is_ok() && !failure_) {
            if (whole) bucket_->count_put();
            else bucket_->count_completed();
        }
    }
    co_await scope_.join();
    if (failure_) r.status = *failure_;
    r.retries = retries_;
    if (r.status.is_ok()) {
        bucket_->store().remove(object_.sequence);
        if (resume_ && !upload_id_) { // a state from the last run that this object did not need
            auto abort_stale = [&]() -> task<outcome> {
                auto a = co_await bucket_->client().abort_multipart_upload(resume_->key, resume_->upload_id);
                co_return aborted(a);
            };
            unsigned ignored = 0;
            (void)co_await with_retries(bucket_->loop(), bucket_->backoff(), abort_stale, ignored, bucket_->client().stop_token());
        }
    }
    co_return r;
}

inline task<outcome> s3_upload::put_whole() {
    std::string body;
    body.swap(pending_);
    aws::s3_client& client = bucket_->client();
    auto attempt = [&]() -> task<outcome> {
        auto r = co_await client.put_object(object_.key, body, headers());
        co_return r.to_outcome();
    };
    co_return co_await with_retries(bucket_->loop(), bucket_->backoff(), attempt, retries_, bucket_->client().stop_token());
}

inline task<outcome> s3_upload::finish_multipart() {
    if (!pending_.empty() || next_part_ == 1) {
        std::string last;
        last.swap(pending_);
        co_await cut_part(std::move(last));
    }
    co_await scope_.join();
    if (failure_) co_return *failure_;
    std::vector<aws::s3_part> parts;
    parts.reserve(parts_.size());
    for (const auto& [n, p] : parts_) parts.push_back(p);
    aws::s3_client& client = bucket_->client();
    unsigned attempts = 0;
    auto attempt = [&]() -> task<outcome> {
        ++attempts;
        auto r = co_await client.complete_multipart_upload(object_.key, *upload_id_, parts);
        if (!r.ok() && attempts > 1 && r.is("NoSuchUpload")) co_return outcome::ok(); // the first one did it
        co_return r.to_outcome();
    };
    co_return co_await with_retries(bucket_->loop(), bucket_->backoff(), attempt, retries_, bucket_->client().stop_token());
}

inline task<void> s3_upload::abort() {
    co_await scope_.join();
    if (upload_id_) {
        auto attempt = [&]() -> task<outcome> {
            auto r = co_await bucket_->client().abort_multipart_upload(object_.key, *upload_id_);
            co_return aborted(r);
        };
        unsigned ignored = 0;
        const outcome o = co_await with_retries(bucket_->loop(), bucket_->backoff(), attempt, ignored, bucket_->client().stop_token());
        if (!o.is_ok()) {
            bucket_->warn("cannot abort an upload: " + o.describe() + " (tried again at the next start)");
            co_return;
        }
    }
    bucket_->store().remove(object_.sequence);
}

} // namespace detail
} // namespace sluice::objects
