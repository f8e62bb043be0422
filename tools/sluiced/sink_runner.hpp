#pragma once

// sink_runner: one configured sink of sluiced, running. Whatever the library type behind it (an AWS
// batch dispatcher, an object engine writing files or S3 objects, a delivery pipeline in front of
// Pulsar), sluiced sees one shape: JSON records in, each answered with its outcome. The runner also
// remembers the last failure (for the status page) and hands finally failed records to the sink's
// dead-letter sink, wrapped with the reason.

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluiced {

/// A failure the status page shows: what went wrong (never a record body) and when.
struct last_error {
    std::string message;                            ///< the outcome's message
    std::chrono::system_clock::time_point at{};     ///< when it was reported
};

/// One running sink: JSON records in, one outcome each.
class sink_runner {
public:
    sink_runner(std::string name, std::string type) : name_(std::move(name)), type_(std::move(type)) {}
    sink_runner(const sink_runner&) = delete;
    sink_runner& operator=(const sink_runner&) = delete;
    virtual ~sink_runner() = default;

    /// The sink's name (the metrics' name label).
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// Its type name in the configuration ("sqs", "file", ...).
    [[nodiscard]] const std::string& type() const noexcept { return type_; }
    /// The last failure, if any.
    [[nodiscard]] const std::optional<last_error>& last_failure() const noexcept { return last_error_; }
    /// Records answered Ok and not.
    [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_; }
    /// Records that finally failed (dead-lettered or not).
    [[nodiscard]] std::uint64_t failed() const noexcept { return failed_; }

    /// Where finally failed records go (another runner, which outlives this one); none by default.
    void set_dead_letter(sink_runner* dead_letter) noexcept { dead_letter_ = dead_letter; }
    /// The dead-letter sink, if any.
    [[nodiscard]] const sink_runner* dead_letter() const noexcept { return dead_letter_; }

    /// Opens connections, journals and buffers. On the loop.
    virtual sluice::task<void> start() = 0;
    /// Sends or writes everything pending now. On the loop.
    virtual sluice::task<void> flush() = 0;
    /// Delivers what it can within `grace`, then stops. On the loop.
    virtual sluice::task<void> stop(std::chrono::milliseconds grace) = 0;

    /// Delivers one record: returns when the sink took it (acknowledged, or durably accepted where
    /// the sink has a journal or a disk buffer); throws sluice::delivery_error when it finally failed,
    /// after handing it to the dead-letter sink if there is one.
    sluice::task<void> deliver(std::string json) {
        // Sinks consume their record; a copy is kept only when a dead-letter sink may need it.
        const std::string kept = dead_letter_ ? json : std::string();
        std::optional<sluice::outcome> failure;
        try {
            co_await deliver_one(json);
            ++delivered_;
            co_return;
        } catch (const sluice::delivery_error& e) {
            failure = e.details();
        } catch (const std::exception& e) {
            failure = sluice::outcome::reject(e.what());
        }
        ++failed_;
        last_error_ = last_error{failure->message, std::chrono::system_clock::now()};
        if (dead_letter_) {
            std::string wrapped = dead_letter_record(kept, *failure);
            std::string why;
            try {
                co_await dead_letter_->deliver(std::move(wrapped));
                failure->dead_lettered = true;
                failure->message += " (kept by dead-letter sink '" + dead_letter_->name() + "')";
            } catch (const std::exception& e) {
                why = e.what();
            }
            if (!why.empty()) failure->message += " (dead-letter sink '" + dead_letter_->name() + "' failed too: " + why + ")";
        }
        throw sluice::delivery_error(std::move(*failure));
    }

    /// What a dead-letter sink receives: the failed sink, the reason, attempts and the record itself
    /// (as JSON when it is JSON, else as a string).
    [[nodiscard]] std::string dead_letter_record(std::string_view json, const sluice::outcome& why) const {
        std::string out = "{\"failed_sink\":";
        sluice::text::append_json_string(out, name_);
        out += ",\"reason\":";
        sluice::text::append_json_string(out, why.message);
        out += ",\"kind\":\"";
        out += sluice::to_string(why.kind);
        out += "\",\"attempts\":" + std::to_string(why.attempts) + ",\"record\":";
        out += json;
        out += '}';
        return out;
    }

protected:
    /// The sink's own delivery of one (already validated JSON) record; it may move from `json`.
    virtual sluice::task<void> deliver_one(std::string& json) = 0;

private:
    std::string name_;
    std::string type_;
    sink_runner* dead_letter_ = nullptr;
    std::optional<last_error> last_error_{};
    std::uint64_t delivered_ = 0;
    std::uint64_t failed_ = 0;
};

} // namespace sluiced
