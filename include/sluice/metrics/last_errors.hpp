#pragma once

// last_errors: each sink's most recent failure, for /status.json's "last_error". Fed directly
// (note()) or by watching a logger: delivery_pipeline logs every final failure and every drop at
// warn with a "sink" field naming the pipeline, so a logger built with observer() keeps the page's
// last errors without touching the pipelines.
//
//     last_errors errors;
//     logger log(log_options{.level = log_level::warn}, errors.observer(write_log_line_to_stderr));
//     o.log = &log;                                  // delivery_options of each pipeline
//     ...  sink_status{.name = "orders", .last_error = errors.get("orders")}
//
// The logger throttles repeated causes (one line per cause and interval), so a failure that repeats
// shows with the time it was last logged. Messages come from the logger's records, which are redacted
// already: no record bodies, no credentials.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sluice/metrics/log.hpp>
#include <sluice/metrics/service_status.hpp>

namespace sluice {

/// The last failure of each sink by name. Thread-safe.
class last_errors {
public:
    /// The longest message kept (longer ones are cut, at a UTF-8 character boundary).
    static constexpr std::size_t max_message_bytes = 1024;

    /// Records `message` as `sink`'s last failure at `at`.
    void note(std::string_view sink, std::string_view message,
              std::chrono::system_clock::time_point at = std::chrono::system_clock::now()) {
        sink_error e{std::string(cut(message)), at};
        std::lock_guard lock(mutex_);
        errors_.insert_or_assign(std::string(sink), std::move(e));
    }

    /// `sink`'s last failure, if any.
    [[nodiscard]] std::optional<sink_error> get(std::string_view sink) const {
        std::lock_guard lock(mutex_);
        const auto it = errors_.find(sink);
        if (it == errors_.end()) return std::nullopt;
        return it->second;
    }

    /// Forgets `sink`'s failure (a firehose deleted, a pipeline reloaded).
    void clear(std::string_view sink) {
        std::lock_guard lock(mutex_);
        if (const auto it = errors_.find(sink); it != errors_.end()) errors_.erase(it);
    }

    /// A log callback that notes every record at warn or above carrying a "sink" field (its message,
    /// then ": " and its "reason" field when it has one), then hands every record to `next` (if
    /// any). This object must outlive the logger.
    [[nodiscard]] log_callback observer(log_callback next = {}) {
        return [this, next = std::move(next)](const log_record& r) {
            if (r.level >= log_level::warn) observe(r);
            if (next) next(r);
        };
    }

private:
    void observe(const log_record& r) {
        std::string_view sink, reason;
        for (const log_field& f : r.fields) {
            if (f.key == "sink") sink = f.value;
            else if (f.key == "reason") reason = f.value;
        }
        if (sink.empty()) return;
        std::string message(r.message);
        if (!reason.empty()) {
            message += ": ";
            message += reason;
        }
        note(sink, message, r.time);
    }

    /// At most max_message_bytes, not splitting a UTF-8 sequence.
    static std::string_view cut(std::string_view s) noexcept {
        if (s.size() <= max_message_bytes) return s;
        std::size_t n = max_message_bytes;
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
        return s.substr(0, n);
    }

    mutable std::mutex mutex_;
    std::map<std::string, sink_error, std::less<>> errors_;
};

} // namespace sluice
