#pragma once

// partition_producer: produces to one topic (or one partition of a partitioned topic) on the broker
// that serves it. Messages are batched (max messages, max bytes, max delay: the official clients'
// defaults, 1000 / 128 KiB / 10 ms), each with its SingleMessageMetadata, the batch compressed whole;
// every batch (or single message, with batching off) gets sequence ids that continue from the
// broker's last_sequence_id, and its encoded frame is kept until the SEND_RECEIPT arrives. When the
// connection drops or the broker closes the producer, it reconnects with backoff, registers again
// under the same name and id, and resends every unacknowledged frame in order: a broker with
// de-duplication drops what it had already stored, so nothing is lost and nothing is reordered.
//
// The pending queue (sent, not yet acknowledged, batches included) is bounded by max_pending_messages:
// a sender waits for room (block_if_queue_full) or gets a clear error. Each message's outcome is its
// own result: the message id, or why it failed (send timeout, a broker refusal, closed).

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/result.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/lookup.hpp>
#include <sluice/pulsar/message.hpp>

namespace sluice::pulsar {

/// How a producer batches, compresses, bounds its queue and times out.
struct producer_options {
    /// The topic (completed as normalize_topic() does).
    std::string topic;
    /// The producer name; empty: the broker assigns one (kept across reconnects either way).
    std::string name{};
    /// Batching: a batch is sent when it holds max_messages or max_bytes, or max_delay after its
    /// first message, whichever comes first. Off: every message is its own SEND.
    bool batching = true;
    std::size_t batch_max_messages = 1000;         ///< max_messages: a batch is sent at this many
    std::size_t batch_max_bytes = 128u << 10;      ///< max_bytes: its entries, metadata included
    std::chrono::milliseconds batch_max_delay{10}; ///< max_delay: from the batch's first message
    /// The codec of every SEND's payload (a batch is compressed whole).
    compression_type compression = compression_type::none;
    /// Messages not yet acknowledged, per partition: in the open batch or sent.
    std::size_t max_pending_messages = 1000;
    /// When the queue is full: wait for room (true) or fail the send at once (false).
    bool block_if_queue_full = false;
    /// A message not acknowledged within this time fails (0: never).
    std::chrono::milliseconds send_timeout{30'000};
    /// How long close() waits for messages not acknowledged yet; then they fail with "closed". Bounds
    /// close() even with send_timeout 0 while the broker stays unreachable (0: fail them at once).
    std::chrono::milliseconds close_timeout = std::chrono::seconds(30);
    /// Reconnection backoff (full jitter between these bounds).
    std::chrono::milliseconds reconnect_initial_backoff{100};
    std::chrono::milliseconds reconnect_max_backoff{30'000}; ///< the longest wait between attempts
    /// Partitioned topics: how keys pick a partition (messages without a key go round-robin).
    hashing_scheme hashing = hashing_scheme::java_string_hash;
};

/// Why a message was not produced.
class producer_error : public std::runtime_error {
public:
    /// What failed. queue_full: no room, and block_if_queue_full is off; timeout: the oldest pending
    /// message outlived send_timeout (every pending one fails with it); broker: the broker refused the
    /// message or the producer; closed: the producer is closed; too_large: over the broker's
    /// max_message_size; invalid: a message the producer cannot take (another topic, no topic).
    enum class kind { queue_full, timeout, broker, closed, too_large, invalid };
    /// A failure of kind `k`, described by `what`.
    producer_error(kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
    /// The kind, for callers that retry some failures and not others.
    [[nodiscard]] kind reason() const noexcept { return kind_; }

private:
    kind kind_;
};

namespace detail {
/// One message's outcome, shared by the producer (which resolves it) and the sender.
struct send_slot {
    async_event done;
    result<message_id> outcome;
    void resolve(result<message_id> r) {
        outcome = std::move(r);
        done.set();
    }
};

inline result<message_id> send_failure(producer_error::kind k, const std::string& why) {
    error e;
    e.source = "pulsar";
    e.message = why;
    e.exception = std::make_exception_ptr(producer_error(k, why));
    return result<message_id>::failure(std::move(e));
}
} // namespace detail

/// A message on its way: await wait() for its message id or error.
class pending_send {
public:
    /// Follows the slot the producer resolves (the producers make these; callers receive them).
    explicit pending_send(std::shared_ptr<detail::send_slot> s) noexcept : slot_(std::move(s)) {}
    /// The outcome: Ok with the message id, or Error with why.
    [[nodiscard]] task<result<message_id>> wait() const {
        auto s = slot_;
        co_await s->done.wait();
        co_return s->outcome;
    }
    /// True once the outcome is known: wait() returns without waiting.
    [[nodiscard]] bool done() const noexcept { return slot_->done.is_set(); }

private:
    std::shared_ptr<detail::send_slot> slot_;
};

/// Counters of one producer.
struct producer_stats {
    std::uint64_t sent = 0;       ///< messages acknowledged by the broker
    std::uint64_t failed = 0;     ///< messages that ended in an error
    std::uint64_t batches = 0;    ///< SEND frames built
    std::uint64_t resent = 0;     ///< frames sent again after a reconnect
    std::uint64_t reconnects = 0; ///< successful re-registrations
};

/// Produces to one topic, or one partition, through the broker that serves it (see the top of this file).
class partition_producer final : connection_handler {
public:
    /// `topic` is this producer's own topic (a partition's name for partitioned topics).
    partition_producer(client& c, producer_options options, std::string topic, std::int32_t partition)
        : client_(&c), options_(std::move(options)), topic_(std::move(topic)), partition_(partition),
          slots_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, options_.max_pending_messages))),
          backoff_({.max_attempts = ~0u, .initial_backoff = options_.reconnect_initial_backoff,
                    .max_backoff = options_.reconnect_max_backoff, .max_elapsed = std::chrono::milliseconds::max()}) {
        name_ = options_.name;
    }
    partition_producer(const partition_producer&) = delete;
    partition_producer& operator=(const partition_producer&) = delete;
    ~partition_producer() {
        if (conn_) conn_->remove_producer(id_);
    }

    /// Registers with the broker (lookup, PRODUCER). Throws connection_error or broker_error.
    [[nodiscard]] task<void> start() {
        id_ = client_->next_producer_id();
        co_await register_producer();
        tasks_.spawn(expiry_loop());
    }

    /// Queues `m` (waiting for room when the queue is full and block_if_queue_full). The returned
    /// pending_send resolves with the message id once the broker stored it, or with the error.
    [[nodiscard]] task<pending_send> enqueue(outgoing_message m) {
        auto slot = std::make_shared<detail::send_slot>();
        if (closed_ || failed_) {
            slot->resolve(detail::send_failure(producer_error::kind::closed, "pulsar: producer of " + topic_ + " is " + (failed_ ? fatal_ : std::string("closed"))));
            co_return pending_send{slot};
        }
        if (m.payload.size() > max_payload()) {
            slot->resolve(detail::send_failure(producer_error::kind::too_large,
                                               "pulsar: message of " + std::to_string(m.payload.size()) + " bytes exceeds the broker's max_message_size of " +
                                                   std::to_string(max_payload())));
            co_return pending_send{slot};
        }
        if (!slots_.try_acquire()) {
            if (!options_.block_if_queue_full) {
                slot->resolve(detail::send_failure(producer_error::kind::queue_full,
                                                   "pulsar: producer queue of " + topic_ + " is full (" + std::to_string(options_.max_pending_messages) + " messages pending)"));
                co_return pending_send{slot};
            }
            co_await slots_.acquire();
        }
        add(std::move(m), slot);
        co_return pending_send{slot};
    }

    /// Sends `m` and returns its outcome.
    [[nodiscard]] task<result<message_id>> send(outgoing_message m) {
        auto p = co_await enqueue(std::move(m));
        co_return co_await p.wait();
    }

    /// Sends the open batch and waits until every queued message has its outcome.
    [[nodiscard]] task<void> flush() {
        seal();
        while (!in_flight_.empty()) {
            drained_.reset();
            co_await drained_.wait();
        }
    }

    /// Flushes (up to close_timeout, and send_timeout fails what waits longer), unregisters from the
    /// broker and stops. Messages still pending then fail with "closed".
    [[nodiscard]] task<void> close() {
        if (closed_) co_return;
        std::stop_source flushed;
        tasks_.spawn(close_deadline(flushed.get_token()));
        co_await flush();
        flushed.request_stop();
        closed_ = true;
        stop_.request_stop();
        if (conn_ && connected_) {
            proto::close_producer c;
            c.producer_id = id_;
            c.request_id = conn_->next_request_id();
            std::string f;
            append_simple_frame(f, c);
            auto conn = conn_;
            try {
                (void)co_await conn->request(std::move(f), c.request_id);
            } catch (const std::exception&) {
                // closing anyway: the broker drops producers of lost connections
            }
            conn->remove_producer(id_);
        }
        fail_all(producer_error::kind::closed, "pulsar: producer closed");
        co_await tasks_.join();
    }

    /// The topic, or the partition's topic name, it produces to.
    [[nodiscard]] const std::string& topic() const noexcept { return topic_; }
    /// The producer name: the options' or, without one, the broker's (once start() registered it).
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// True while registered on a live connection; false before start() and while reconnecting.
    [[nodiscard]] bool connected() const noexcept { return connected_; }
    /// Messages queued or in flight, not yet resolved.
    [[nodiscard]] std::size_t pending() const noexcept { return pending_; }
    /// Its counters.
    [[nodiscard]] const producer_stats& stats() const noexcept { return stats_; }
    /// The next sequence id this producer will use.
    [[nodiscard]] std::uint64_t next_sequence_id() const noexcept { return next_seq_; }

private:
    struct in_flight {
        std::uint64_t first_seq = 0;
        std::uint64_t last_seq = 0;
        std::string frame;
        std::vector<std::shared_ptr<detail::send_slot>> slots;
        bool batched = false;
        std::chrono::steady_clock::time_point created;
    };

    [[nodiscard]] std::size_t max_payload() const noexcept {
        return conn_ ? conn_->max_message_size() : default_max_message_size;
    }

    // ---- building batches ---------------------------------------------------------------------

    void add(outgoing_message m, std::shared_ptr<detail::send_slot> slot) {
        ++pending_;
        if (!options_.batching) {
            send_single(std::move(m), std::move(slot));
            return;
        }
        if (!batch_slots_.empty() && batch_.size() + m.payload.size() + 64 > options_.batch_max_bytes) seal();
        proto::single_message_metadata smm;
        smm.properties = std::move(m.properties);
        smm.partition_key = std::move(m.key);
        smm.ordering_key = std::move(m.ordering_key);
        if (m.event_time != 0) smm.event_time = m.event_time;
        smm.sequence_id = next_seq_++;
        if (batch_slots_.empty()) {
            batch_first_seq_ = *smm.sequence_id;
            tasks_.spawn(batch_timer(++batch_generation_));
        }
        append_batch_entry(batch_, smm, m.payload);
        batch_slots_.push_back(std::move(slot));
        if (batch_slots_.size() >= options_.batch_max_messages || batch_.size() >= options_.batch_max_bytes) seal();
    }

    void send_single(outgoing_message m, std::shared_ptr<detail::send_slot> slot) {
        proto::message_metadata md = base_metadata(next_seq_++);
        md.properties = std::move(m.properties);
        md.partition_key = std::move(m.key);
        md.ordering_key = std::move(m.ordering_key);
        if (m.event_time != 0) md.event_time = m.event_time;
        in_flight f;
        f.first_seq = f.last_seq = md.sequence_id;
        f.slots.push_back(std::move(slot));
        encode(f, md, m.payload, 1);
    }

    proto::message_metadata base_metadata(std::uint64_t seq) const {
        proto::message_metadata md;
        md.producer_name = name_;
        md.sequence_id = seq;
        md.publish_time = now_millis();
        return md;
    }

    /// Closes the open batch into a SEND frame.
    void seal() {
        if (batch_slots_.empty()) return;
        ++batch_generation_; // its timer, if still waiting, finds nothing to do
        proto::message_metadata md = base_metadata(batch_first_seq_);
        const auto n = batch_slots_.size();
        md.num_messages_in_batch = static_cast<std::int32_t>(n);
        in_flight f;
        f.first_seq = batch_first_seq_;
        f.last_seq = batch_first_seq_ + n - 1;
        f.batched = true;
        f.slots = std::move(batch_slots_);
        batch_slots_.clear();
        if (n > 1) md.highest_sequence_id = f.last_seq;
        encode(f, md, batch_, static_cast<std::int32_t>(n));
        batch_.clear();
    }

    void encode(in_flight& f, proto::message_metadata& md, std::string_view payload, std::int32_t n) {
        std::string_view body = payload;
        if (options_.compression != compression_type::none) {
            compressed_.clear();
            codec_.compress(options_.compression, payload, compressed_);
            md.compression = options_.compression;
            md.uncompressed_size = static_cast<std::uint32_t>(payload.size());
            body = compressed_;
        }
        proto::send s;
        s.producer_id = id_;
        s.sequence_id = f.first_seq;
        if (n > 1 || md.num_messages_in_batch) s.num_messages = n;
        if (f.last_seq != f.first_seq) s.highest_sequence_id = f.last_seq;
        f.frame.reserve(body.size() + 128);
        append_payload_frame(f.frame, s, md, body);
        f.created = std::chrono::steady_clock::now();
        ++stats_.batches;
        if (connected_) conn_->send_frame(f.frame);
        in_flight_.push_back(std::move(f));
    }

    task<void> batch_timer(std::uint64_t generation) {
        try {
            co_await client_->loop().sleep_for(options_.batch_max_delay, stop_.get_token());
        } catch (const operation_cancelled&) {
            co_return;
        }
        if (generation == batch_generation_) seal();
    }

    // ---- outcomes -----------------------------------------------------------------------------

    void on_frame(frame& f) override {
        if (auto* r = std::get_if<proto::send_receipt>(&f.command)) return on_receipt(*r);
        if (auto* e = std::get_if<proto::send_error>(&f.command)) return on_send_error(*e);
        if (std::holds_alternative<proto::close_producer>(f.command)) {
            // The broker is moving the topic: register again elsewhere, resending what is pending.
            auto c = conn_;
            if (c) c->remove_producer(id_);
            on_disconnected();
        }
    }

    void on_receipt(const proto::send_receipt& r) {
        if (in_flight_.empty() || r.sequence_id < in_flight_.front().first_seq) return; // a duplicate
        if (r.sequence_id != in_flight_.front().first_seq) {
            conn_->close("pulsar: receipt for sequence id " + std::to_string(r.sequence_id) + " out of order");
            return;
        }
        in_flight f = std::move(in_flight_.front());
        in_flight_.pop_front();
        message_id id;
        if (r.message_id) {
            id.ledger_id = r.message_id->ledger_id;
            id.entry_id = r.message_id->entry_id;
        }
        id.partition = partition_;
        const auto n = static_cast<std::int32_t>(f.slots.size());
        for (std::int32_t i = 0; i < n; ++i) {
            message_id mi = id;
            if (f.batched) {
                mi.batch_index = i;
                mi.batch_size = n;
            }
            f.slots[static_cast<std::size_t>(i)]->resolve(result<message_id>::ok(mi));
        }
        finished(f.slots.size(), true);
    }

    void on_send_error(const proto::send_error& e) {
        if (e.error == server_error::checksum_error || is_retryable(e.error)) {
            // The frame was damaged on the way or the broker is not ready: reconnect and resend.
            if (conn_) conn_->close("pulsar: SEND_ERROR " + std::string(to_string(e.error)) + ": " + e.message);
            return;
        }
        for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
            if (it->first_seq != e.sequence_id) continue;
            const std::string why = "pulsar: broker refused the message: " + std::string(to_string(e.error)) + ": " + e.message;
            for (auto& s : it->slots) s->resolve(detail::send_failure(producer_error::kind::broker, why));
            const auto n = it->slots.size();
            in_flight_.erase(it);
            finished(n, false);
            return;
        }
    }

    void finished(std::size_t n, bool ok) {
        (ok ? stats_.sent : stats_.failed) += n;
        pending_ -= n;
        slots_.release(static_cast<std::ptrdiff_t>(n));
        if (in_flight_.empty()) drained_.set();
    }

    // The open batch fails without being sent: sealing it here would put it on the wire and then
    // report it failed, so a caller retrying on the failure could publish it twice.
    void fail_all(producer_error::kind k, const std::string& why) {
        if (!batch_slots_.empty()) {
            ++batch_generation_;
            auto open = std::move(batch_slots_);
            batch_slots_.clear();
            batch_.clear();
            for (auto& s : open) s->resolve(detail::send_failure(k, why));
            finished(open.size(), false);
        }
        auto all = std::move(in_flight_);
        in_flight_.clear();
        for (auto& f : all) {
            for (auto& s : f.slots) s->resolve(detail::send_failure(k, why));
            finished(f.slots.size(), false);
        }
        drained_.set();
    }

    /// close()'s bound on its flush: what is still pending at close_timeout fails as closed.
    task<void> close_deadline(std::stop_token flushed) {
        try {
            co_await client_->loop().sleep_for(options_.close_timeout, flushed);
        } catch (const operation_cancelled&) {
            co_return;
        }
        fail_all(producer_error::kind::closed, "pulsar: producer closed with messages not acknowledged within the close timeout of " +
                                                   std::to_string(options_.close_timeout.count()) + " ms");
    }

    task<void> expiry_loop() {
        if (options_.send_timeout.count() <= 0) co_return;
        const auto tick = std::max(std::chrono::milliseconds(10), options_.send_timeout / 10);
        try {
            for (;;) {
                co_await client_->loop().sleep_for(tick, stop_.get_token());
                const auto now = std::chrono::steady_clock::now();
                if (!in_flight_.empty() && now - in_flight_.front().created > options_.send_timeout)
                    fail_all(producer_error::kind::timeout, "pulsar: message not acknowledged within the send timeout of " +
                                                                std::to_string(options_.send_timeout.count()) + " ms");
            }
        } catch (const operation_cancelled&) {
        }
    }

    // ---- connecting ---------------------------------------------------------------------------

    task<void> register_producer() {
        auto conn = co_await client_->connection_for(topic_);
        proto::producer p;
        p.topic = topic_;
        p.producer_id = id_;
        p.request_id = conn->next_request_id();
        if (!name_.empty()) {
            p.producer_name = name_;
            p.user_provided_producer_name = !options_.name.empty();
        }
        p.epoch = epoch_++;
        std::string f;
        append_simple_frame(f, p);
        auto reply = co_await conn->request(std::move(f), p.request_id);
        auto* ok = std::get_if<proto::producer_success>(&reply);
        if (!ok) throw connection_error("pulsar: unexpected answer to PRODUCER on " + topic_);
        name_ = ok->producer_name;
        const std::int64_t last = ok->last_sequence_id.value_or(-1);
        if (last >= 0 && static_cast<std::uint64_t>(last) + 1 > next_seq_ && in_flight_.empty() && batch_slots_.empty())
            next_seq_ = static_cast<std::uint64_t>(last) + 1;
        conn_ = std::move(conn);
        conn_->add_producer(id_, this);
        connected_ = true;
        for (auto& inf : in_flight_) {
            conn_->send_frame(inf.frame);
            if (epoch_ > 1) ++stats_.resent;
        }
    }

    void on_disconnected() override {
        connected_ = false;
        if (closed_ || reconnecting_) return;
        reconnecting_ = true;
        tasks_.spawn(reconnect());
    }

    task<void> reconnect() {
        for (unsigned attempt = 2; !closed_; ++attempt) {
            try {
                co_await client_->loop().sleep_for(backoff_.delay(attempt), stop_.get_token());
                co_await register_producer();
                ++stats_.reconnects;
                break;
            } catch (const operation_cancelled&) {
                break;
            } catch (const broker_error& e) {
                if (!is_retryable(e.code()) && e.code() != server_error::topic_not_found) {
                    failed_ = true;
                    fatal_ = e.what();
                    fail_all(producer_error::kind::broker, e.what());
                    break;
                }
            } catch (const std::exception&) {
                // connection_error: try again after the next backoff
            }
        }
        reconnecting_ = false;
    }

    client* client_;
    producer_options options_;
    std::string topic_;
    std::int32_t partition_;
    std::string name_;
    std::uint64_t id_ = 0;
    std::uint64_t epoch_ = 0;
    std::shared_ptr<connection> conn_{};
    bool connected_ = false;
    bool reconnecting_ = false;
    bool closed_ = false;
    bool failed_ = false;
    std::string fatal_{};
    std::uint64_t next_seq_ = 0;
    async_semaphore slots_;
    std::size_t pending_ = 0;
    std::string batch_{};
    std::vector<std::shared_ptr<detail::send_slot>> batch_slots_{};
    std::uint64_t batch_first_seq_ = 0;
    std::uint64_t batch_generation_ = 0;
    std::deque<in_flight> in_flight_{};
    std::string compressed_{};
    payload_codec codec_{};
    async_event drained_{true};
    backoff_policy backoff_;
    producer_stats stats_{};
    std::stop_source stop_{};
    async_scope tasks_{};
};

} // namespace sluice::pulsar
