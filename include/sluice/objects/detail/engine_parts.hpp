#pragma once

// The object engine's small parts (objects/engine.hpp): its metrics, what waits in its intake, the
// slots of the batch being journaled, and the random names of objects.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/core/event.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/objects/live_object.hpp>
#include <sluice/objects/options.hpp>
#include <sluice/objects/partitioner.hpp>

namespace sluice::objects {

namespace detail {

/// The engine's metrics, labelled {component="objects", name=<name>}; detached without a registry.
struct engine_metrics {
    flow_metrics flow{};
    gauge open_objects{};
    gauge memory{};
    counter objects_written{};
    counter objects_failed{};
    counter bytes_written{};
    counter evictions{};

    engine_metrics() = default;
    engine_metrics(metrics_registry& r, std::string_view name) : flow(r, "objects", name) {
        const label_set labels{{"component", "objects"}, {"name", std::string(name)}};
        open_objects = r.get_gauge("sluice_objects_open", "Objects open for records.", labels);
        memory = r.get_gauge("sluice_objects_memory_bytes", "Memory held by open and completing objects.", labels);
        objects_written = r.get_counter("sluice_objects_written_total", "Objects durably written or uploaded.", labels);
        objects_failed = r.get_counter("sluice_objects_failed_total", "Objects that could not be written.", labels);
        bytes_written = r.get_counter("sluice_object_bytes_written_total", "Bytes of objects written.", labels);
        evictions = r.get_counter("sluice_objects_evicted_total", "Objects the memory budget closed early.", labels);
    }
};

/// The engine's options, checked (std::invalid_argument naming what is wrong), with defaults filled in.
inline object_engine_options checked(object_engine_options o) {
    if (o.name.empty() || o.name.find('/') != std::string::npos)
        throw std::invalid_argument("sluice::objects::object_engine: the name must be non-empty, without '/'");
    if (o.directory.empty()) throw std::invalid_argument("sluice::objects::object_engine: no directory");
    if (o.batch_records == 0) o.batch_records = 1;
    return o;
}

/// A flush() in the intake: where the records submitted before it end.
struct flush_barrier {
    async_event reached{};
    std::uint64_t mark = 0; ///< every object below this sequence number holds records from before
};

/// A record or a barrier, waiting for the journal.
struct intake_item {
    std::string json{};
    record_completion* completion = nullptr;
    flush_barrier* barrier = nullptr;
};

/// One record of the batch being journaled.
struct batch_slot {
    std::string json{};
    record_completion* completion = nullptr;
    simdjson::dom::document doc{};
    placement place{};
    live_object* object = nullptr;

    /// Gives back the memory of a record larger than `limit` (one huge record must not stay held).
    void shrink(std::size_t limit) {
        if (json.capacity() <= limit) return;
        doc = simdjson::dom::document{};
        std::string().swap(json);
    }
};

/// One journal entry of the batch being journaled: a record's (slot names it) or an object's close.
struct journal_item {
    static constexpr std::size_t no_slot = ~std::size_t{0};
    std::string bytes{};
    std::size_t slot = no_slot; ///< the record's batch slot; no_slot for an entry about an object
    live_object* object = nullptr;
};

/// Resumes deliver() once its record's outcome is known.
struct completion_awaiter {
    awaited_completion* c;
    [[nodiscard]] bool await_ready() const noexcept { return c->await_ready(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { c->await_suspend(h); }
    object_receipt await_resume() const { return c->await_resume(); }
};

/// 128 random bits as 32 lowercase hex digits, for the {uuid} of key templates (not RFC 4122's
/// layout: a name that cannot collide is all it needs to be).
class uuid_source {
public:
    /// Seeded from std::random_device.
    uuid_source() : rng_(std::random_device{}()) {}
    /// The next name.
    std::string next() {
        static constexpr char hex[] = "0123456789abcdef";
        std::string out(32, '0');
        for (int half = 0; half < 2; ++half) {
            std::uint64_t v = rng_();
            for (int i = 0; i < 16; ++i, v >>= 4) out[static_cast<std::size_t>(half * 16 + i)] = hex[v & 15];
        }
        return out;
    }

private:
    std::mt19937_64 rng_;
};

} // namespace detail

} // namespace sluice::objects
