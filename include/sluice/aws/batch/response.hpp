#pragma once

// How AWS batch APIs say what happened to each entry of a successful (2xx) response, each mapping
// written once, tested once, and used by every service that answers that way:
//
//   by id             SQS: {"Successful":[{"Id":..}], "Failed":[{"Id":..,"Code":..,"SenderFault":..}]}
//   by position       Kinesis Records[i].ErrorCode, Firehose RequestResponses[i].ErrorCode (JSON, or
//                     CBOR for Kinesis's application/x-amz-cbor-1.1)
//   by index ranges   CloudWatch Logs rejectedLogEventsInfo {tooNewLogEventStartIndex, ...}
//   by unprocessed    DynamoDB UnprocessedItems: the entries handed back are retried
//   all or nothing    PutMetricData, S3 PutObject: a 2xx means every entry was taken
//
// Every mapping yields one outcome per entry in batch order (batch_result::all_ok() when all were
// taken); an entry the response does not account for is retried ("no result for entry"), never
// assumed delivered. A body that cannot be read fails the whole request as retryable.

#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/batch/response.hpp needs simdjson (SLUICE_HAS_SIMDJSON)"
#endif

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <sluice/aws/batch/errors.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/text/cbor.hpp>
#include <sluice/text/utf8.hpp>

namespace sluice::aws {

/// Field names of an id-keyed response (SQS's by default).
struct id_response_fields {
    /// The list of entries that succeeded.
    std::string_view successful = "Successful";
    /// The list of entries that failed.
    std::string_view failed = "Failed";
    /// An entry's id (the one the request gave it).
    std::string_view id = "Id";
    /// A failed entry's error code.
    std::string_view code = "Code";
    /// A failed entry's error message.
    std::string_view message = "Message";
    /// A failed entry's flag: true when the sender is at fault (not retried).
    std::string_view sender_fault = "SenderFault";
};

/// Field names of a position-keyed response (Kinesis's by default; Firehose: "RequestResponses").
struct position_response_fields {
    /// The list of per-entry results, in request order.
    std::string_view results = "Records";
    /// A result's error code (absent or empty: the entry succeeded).
    std::string_view code = "ErrorCode";
    /// A result's error message.
    std::string_view message = "ErrorMessage";
    /// The count of failed entries the service states ("FailedRecordCount", "FailedPutCount"); empty
    /// to skip the cross-check.
    std::string_view failed_count = "FailedRecordCount";
};

/// Reads batch responses with one reused simdjson parser: once warm, a response whose entries all
/// succeeded is read without allocating. Not thread-safe; one per sink.
class batch_response_reader {
public:
    /// Parses `body`; an error (and no object) when it is not a JSON object.
    [[nodiscard]] bool parse(std::string_view body, simdjson::dom::object& root) {
        return parser_.parse(body.data(), body.size(), true).get_object().get(root) == simdjson::SUCCESS;
    }

    /// Per entry, from Successful/Failed lists keyed by the entry ids `ids` (batch order).
    /// `on_success(index, item)` sees each accepted entry (e.g. to check an MD5) and may return a
    /// failure outcome for it. Ids found twice or not in the batch are ignored and counted.
    template <class OnSuccess>
        requires std::invocable<OnSuccess&, std::size_t, const simdjson::dom::object&>
    [[nodiscard]] batch_result by_id(const simdjson::dom::object& root, std::span<const std::string_view> ids,
                                     const error_table& table, OnSuccess&& on_success,
                                     const id_response_fields& f = {}) {
        const std::size_t n = ids.size();
        state_.assign(n, no_result);
        unknown_ = 0;
        batch_result result;
        walk_ids(root, f.successful, f.id, ids, [&](std::size_t at, const simdjson::dom::object& o) {
            state_[at] = accepted;
            std::optional<outcome> o2 = on_success(at, o);
            if (o2) set(result, n, at, std::move(*o2));
        });
        walk_ids(root, f.failed, f.id, ids, [&](std::size_t at, const simdjson::dom::object& o) {
            state_[at] = failed;
            std::string_view code, message;
            bool sender_fault = false;
            const bool has_fault = read(o[f.sender_fault].get_bool(), sender_fault);
            read(o[f.code].get_string(), code);
            read(o[f.message].get_string(), message);
            set(result, n, at,
                classify_entry(table, code, message, has_fault ? std::optional<bool>(sender_fault) : std::nullopt));
        });
        for (std::size_t i = 0; i < n; ++i)
            if (state_[i] == no_result) set(result, n, i, outcome::retry("no result for entry"));
        return result;
    }

    /// The same without a per-success check.
    [[nodiscard]] batch_result by_id(const simdjson::dom::object& root, std::span<const std::string_view> ids,
                                     const error_table& table, const id_response_fields& f = {}) {
        return by_id(root, ids, table, [](std::size_t, const simdjson::dom::object&) { return std::optional<outcome>{}; }, f);
    }

    /// Per entry, from an array holding one result per entry in request order, an entry failed when
    /// its code field is present and not null. `on_success(index, item)` sees each accepted entry.
    template <class OnSuccess>
        requires std::invocable<OnSuccess&, std::size_t, const simdjson::dom::object&>
    [[nodiscard]] batch_result by_position(const simdjson::dom::object& root, std::size_t n, const error_table& table,
                                           OnSuccess&& on_success, const position_response_fields& f = {}) {
        simdjson::dom::array results;
        if (root[f.results].get_array().get(results) != simdjson::SUCCESS)
            return batch_result::failed(outcome::retry("response has no " + std::string(f.results) + " array"));
        if (results.size() != n)
            return batch_result::failed(outcome::retry("response has " + std::to_string(results.size()) +
                                                       " results for " + std::to_string(n) + " entries"));
        batch_result result;
        std::size_t i = 0, failures = 0;
        for (simdjson::dom::element item : results) {
            simdjson::dom::object o;
            if (item.get_object().get(o) != simdjson::SUCCESS) {
                set(result, n, i++, outcome::retry("unreadable result for entry"));
                continue;
            }
            std::string_view code, message;
            if (read(o[f.code].get_string(), code) && !code.empty()) {
                read(o[f.message].get_string(), message);
                set(result, n, i, classify_entry(table, code, message));
                ++failures;
            } else if (std::optional<outcome> bad = on_success(i, o)) {
                set(result, n, i, std::move(*bad));
            }
            ++i;
        }
        std::uint64_t stated = 0;
        if (!f.failed_count.empty() && read(root[f.failed_count].get_uint64(), stated) && stated != failures)
            failed_count_mismatches_++;
        return result;
    }

    /// by_position() for services whose successful entries carry nothing worth keeping.
    [[nodiscard]] batch_result by_position(const simdjson::dom::object& root, std::size_t n, const error_table& table,
                                           const position_response_fields& f = {}) {
        return by_position(root, n, table, [](std::size_t, const simdjson::dom::object&) { return std::optional<outcome>{}; }, f);
    }

    /// by_position() for a CBOR body: a map whose `f.results` array holds one map per entry, the entry
    /// failed when its code is present, not null and not empty. Definite and indefinite lengths are
    /// both read; anything malformed fails the whole request as retryable, as an unreadable JSON body.
    [[nodiscard]] batch_result by_position_cbor(std::string_view body, std::size_t n, const error_table& table,
                                                const position_response_fields& f = {}) {
        text::cbor::reader in(body);
        text::cbor::item root;
        if (!in.next(root) || root.type != text::cbor::major::map)
            return batch_result::failed(outcome::retry("unreadable response (not a CBOR map)"));
        batch_result result;
        std::size_t count = 0, failures = 0;
        bool have_results = false, have_stated = false;
        std::uint64_t stated = 0;
        std::string key_scratch;
        const bool read = in.for_each(root, [&] {
            std::string_view key;
            if (!in.read_text(key, key_scratch)) return false;
            if (key == f.failed_count && !f.failed_count.empty()) {
                text::cbor::item v;
                if (!in.next(v)) return false;
                have_stated = v.type == text::cbor::major::unsigned_integer;
                stated = v.value;
                return in.skip_rest(v);
            }
            if (key != f.results) return in.skip();
            text::cbor::item list;
            if (!in.next(list) || list.type != text::cbor::major::array) return false;
            have_results = true;
            return in.for_each(list, [&] {
                const std::size_t at = count++;
                std::optional<outcome> o;
                bool failed = false;
                if (!read_cbor_result(in, f, table, o, failed)) return false;
                failures += failed ? 1 : 0;
                if (o && at < n) set(result, n, at, std::move(*o));
                return true;
            });
        });
        if (!read || !in.at_end()) return batch_result::failed(outcome::retry("unreadable response (malformed CBOR)"));
        if (!have_results)
            return batch_result::failed(outcome::retry("response has no " + std::string(f.results) + " array"));
        if (count != n)
            return batch_result::failed(outcome::retry("response has " + std::to_string(count) + " results for " +
                                                       std::to_string(n) + " entries"));
        if (have_stated && stated != failures) failed_count_mismatches_++;
        return result;
    }

    /// Ids in the response that named no entry of the batch (or one twice), at the last by_id().
    [[nodiscard]] std::size_t unknown_entries() const noexcept { return unknown_; }
    /// Responses whose stated failure count disagreed with their per-entry results (the per-entry
    /// results are trusted).
    [[nodiscard]] std::size_t failed_count_mismatches() const noexcept { return failed_count_mismatches_; }

    /// simdjson's get() must not be ignored (GCC will not take a (void) cast): this says so once.
    template <class T>
    static bool read(simdjson::simdjson_result<T>&& r, T& out) noexcept {
        return std::move(r).get(out) == simdjson::SUCCESS;
    }

private:
    enum : unsigned char { no_result = 0, accepted = 1, failed = 2 };

    static void set(batch_result& r, std::size_t n, std::size_t at, outcome o) {
        if (r.entries.empty()) r.entries.assign(n, outcome::ok());
        r.entries[at] = std::move(o);
    }

    // One CBOR result of by_position_cbor(): `o` stays empty for a success, holds a failure's outcome
    // (`failed` set) or "unreadable result" for an item that is not a map, or whose code or message is
    // neither text nor null, or not UTF-8. False when the CBOR itself is malformed.
    bool read_cbor_result(text::cbor::reader& in, const position_response_fields& f, const error_table& table,
                          std::optional<outcome>& o, bool& failed) {
        using text::cbor::major;
        text::cbor::item entry;
        if (!in.next(entry)) return false;
        if (entry.type != major::map) {
            o = outcome::retry("unreadable result for entry");
            return in.skip_rest(entry);
        }
        std::string_view code, message;
        std::string& code_scratch = cbor_scratch_[0];
        std::string& message_scratch = cbor_scratch_[1];
        std::string& key_scratch = cbor_scratch_[2];
        bool readable = true;
        const auto text_or_null = [&](std::string_view& out, std::string& scratch) {
            text::cbor::item v;
            if (!in.next(v)) return false;
            if (v.type == major::text) return in.string_of(v, major::text, out, scratch);
            readable = readable && v.type == major::simple && v.value == text::cbor::simple_null;
            return in.skip_rest(v);
        };
        const bool read = in.for_each(entry, [&] {
            std::string_view key;
            if (!in.read_text(key, key_scratch)) return false;
            if (key == f.code) return text_or_null(code, code_scratch);
            if (key == f.message) return text_or_null(message, message_scratch);
            return in.skip();
        });
        if (!read) return false;
        if (code.empty() && readable) return true; // a success: its message is not read
        if (!readable || !text::check_utf8(code).ok() || !text::check_utf8(message).ok()) {
            o = outcome::retry("unreadable result for entry");
        } else {
            o = classify_entry(table, code, message);
            failed = true;
        }
        return true;
    }

    template <class F>
    void walk_ids(const simdjson::dom::object& root, std::string_view list, std::string_view id_field,
                  std::span<const std::string_view> ids, F&& f) {
        simdjson::dom::array items;
        if (root[list].get_array().get(items) != simdjson::SUCCESS) return;
        std::size_t guess = 0;
        for (simdjson::dom::element item : items) {
            simdjson::dom::object o;
            std::string_view id;
            if (item.get_object().get(o) != simdjson::SUCCESS || o[id_field].get_string().get(id) != simdjson::SUCCESS) {
                ++unknown_;
                continue;
            }
            const std::size_t at = find(ids, id, guess);
            guess = at + 1;
            if (at == ids.size() || state_[at] != no_result) {
                ++unknown_;
                continue;
            }
            f(at, o);
        }
    }

    static std::size_t find(std::span<const std::string_view> ids, std::string_view id, std::size_t guess) noexcept {
        // Results usually come in request order: try the expected position first.
        if (guess < ids.size() && ids[guess] == id) return guess;
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (ids[i] == id) return i;
        return ids.size();
    }

    simdjson::dom::parser parser_;
    std::string cbor_scratch_[3]; // indefinite-length strings of a CBOR result, joined (rare)
    std::vector<unsigned char> state_;
    std::size_t unknown_ = 0;
    std::size_t failed_count_mismatches_ = 0;
};

/// CloudWatch Logs' rejectedLogEventsInfo: indexes into the events as sent (chronological order).
struct rejected_ranges {
    /// Events from this index on were too new.
    std::optional<std::size_t> too_new_start{};
    /// Events up to and including this index were too old.
    std::optional<std::size_t> too_old_end{};
    /// Events up to and including this index were older than the log group's retention.
    std::optional<std::size_t> expired_end{};
};

/// Per entry (as sent): those inside a rejected range are rejected with the range's reason, the rest
/// were delivered.
[[nodiscard]] inline batch_result by_index_ranges(std::size_t n, const rejected_ranges& r) {
    batch_result result;
    auto mark = [&](std::size_t i, std::string_view code, std::string_view why) {
        if (result.entries.empty()) result.entries.assign(n, outcome::ok());
        if (result.entries[i].is_ok()) result.entries[i] = outcome::reject(std::string(why)).from_service(std::string(code));
    };
    if (r.expired_end)
        for (std::size_t i = 0; i <= *r.expired_end && i < n; ++i)
            mark(i, "ExpiredLogEvent", "log event older than the log group's retention");
    if (r.too_old_end)
        for (std::size_t i = 0; i <= *r.too_old_end && i < n; ++i)
            mark(i, "TooOldLogEvent", "log event too old (more than 14 days, or older than the log group)");
    if (r.too_new_start)
        for (std::size_t i = *r.too_new_start; i < n; ++i) mark(i, "TooNewLogEvent", "log event more than 2 hours in the future");
    return result;
}

/// Per entry: those whose key is among the `unprocessed` keys the service handed back (DynamoDB's
/// UnprocessedItems) are retried as throttled (the service did not get to them for lack of
/// capacity), the rest were delivered. `keys[i]` identifies entry i.
[[nodiscard]] inline batch_result by_unprocessed(std::span<const std::string> keys, std::span<const std::string> unprocessed) {
    batch_result result;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        bool back = false;
        for (const std::string& u : unprocessed)
            if (u == keys[i]) {
                back = true;
                break;
            }
        if (!back) continue;
        if (result.entries.empty()) result.entries.assign(keys.size(), outcome::ok());
        result.entries[i] = outcome::throttle("unprocessed: the service did not get to this item (capacity)");
    }
    return result;
}

/// A request that succeeds or fails as a whole (PutMetricData, S3 PutObject): a 2xx took every entry.
[[nodiscard]] inline batch_result all_or_nothing() { return batch_result::all_ok(); }

/// Per entry, when the request carried the entries packed in consecutive groups (Firehose records
/// aggregating several records): group g holds sizes[g] entries, and each takes its group's outcome.
[[nodiscard]] inline batch_result per_entry_of_groups(const batch_result& groups, std::span<const std::size_t> sizes) {
    if (groups.request || groups.entries.empty()) return groups;
    batch_result out;
    std::size_t total = 0;
    for (std::size_t s : sizes) total += s;
    out.entries.reserve(total);
    for (std::size_t g = 0; g < sizes.size(); ++g)
        for (std::size_t k = 0; k < sizes[g]; ++k)
            out.entries.push_back(g < groups.entries.size() ? groups.entries[g] : outcome::retry("no result for entry"));
    return out;
}

/// Per entry in batch order, when the request carried the entries in another order, or not all of
/// them: sent[i] is the batch index of the i-th entry sent (CloudWatch Logs sorts events by time).
/// Entries of the batch that were not sent get `unsent`.
[[nodiscard]] inline batch_result in_batch_order(const batch_result& as_sent, std::span<const std::size_t> sent,
                                                 std::size_t n, const outcome& unsent) {
    if (as_sent.request) return as_sent;
    if (as_sent.entries.empty() && sent.size() == n) return as_sent;
    batch_result out;
    out.entries.assign(n, unsent);
    for (std::size_t i = 0; i < sent.size(); ++i) {
        if (sent[i] >= n) continue;
        if (as_sent.entries.empty())
            out.entries[sent[i]] = outcome::ok();
        else if (i < as_sent.entries.size())
            out.entries[sent[i]] = as_sent.entries[i];
        else
            out.entries[sent[i]] = outcome::retry("no result for entry");
    }
    return out;
}

} // namespace sluice::aws
