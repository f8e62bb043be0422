#pragma once

// producer: the "direct" sink. It produces to a topic, partitioned or not (PARTITIONED_METADATA decides
// at start): a message with a key goes to the partition the Java client would choose for that key
// (message.hpp), one without goes round-robin. Each message's outcome is a result<message_id>, and
// processor() turns the producer into a collector's processor, so `send` on a collector queue resolves
// with the message id or the error.
//
// dynamic_producer: the "dynamic sink". Each message may name its own topic; a producer per topic is
// created on first use (concurrent first uses share one creation), cached, and closed when idle.
//
// Both batch, compress, bound their queues and time out as partition_producer does. They are not
// delivery_pipeline sinks: Pulsar's own batching, sequence ids and resends live here. A sink adapter
// for the delivery engine (its disk buffer and rate limits in front) can wrap send() later.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/pulsar/partition_producer.hpp>
#include <sluice/queue/collector.hpp>

namespace sluice::pulsar {

/// The "direct" sink: produces to one topic, partitioned or not (see the top of this header).
class producer {
public:
    /// Produces through `c` (which outlives it) to `options.topic`; start() connects.
    producer(client& c, producer_options options) : client_(&c), options_(std::move(options)) {
        options_.topic = normalize_topic(options_.topic);
    }
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    /// Looks the topic up and registers a producer per partition. Throws connection_error or broker_error.
    [[nodiscard]] task<void> start() {
        partition_count_ = co_await client_->partitions(options_.topic);
        if (partition_count_ == 0) {
            parts_.push_back(std::make_unique<partition_producer>(*client_, options_, options_.topic, -1));
        } else {
            for (std::uint32_t i = 0; i < partition_count_; ++i)
                parts_.push_back(std::make_unique<partition_producer>(*client_, options_, partition_topic(options_.topic, i),
                                                                      static_cast<std::int32_t>(i)));
        }
        for (auto& p : parts_) co_await p->start();
    }

    /// Queues `m`; see partition_producer::enqueue. A message naming another topic is refused.
    [[nodiscard]] task<pending_send> enqueue(outgoing_message m) {
        if (m.topic && normalize_topic(*m.topic) != options_.topic) {
            auto slot = std::make_shared<detail::send_slot>();
            slot->resolve(detail::send_failure(producer_error::kind::invalid, "pulsar: message for topic " + *m.topic +
                                                                                   " sent to the producer of " + options_.topic));
            co_return pending_send{slot};
        }
        auto& part = *parts_.at(choose(m));
        co_return co_await part.enqueue(std::move(m));
    }

    /// Sends `m` and returns its outcome (the message id, or the error).
    [[nodiscard]] task<result<message_id>> send(outgoing_message m) {
        auto p = co_await enqueue(std::move(m));
        co_return co_await p.wait();
    }

    /// Sends open batches and waits for every outcome.
    [[nodiscard]] task<void> flush() {
        for (auto& p : parts_) co_await p->flush();
    }

    /// Flushes and closes every partition's producer.
    [[nodiscard]] task<void> close() {
        for (auto& p : parts_) co_await p->close();
    }

    /// A collector processor producing each payload as one message; the collector's result is the
    /// message id (or the error).
    template <class T>
    [[nodiscard]] typename collector<T, message_id>::processor_type processor(std::function<outgoing_message(const payload<T>&)> to_message) {
        return [this, to_message = std::move(to_message)](const payload<T>& p, collector_context&) -> task<message_id> {
            outgoing_message m = to_message(p);
            auto r = co_await send(std::move(m));
            co_return r.value(); // an Error rethrows: the collector reports it
        };
    }

    /// The topic (full name).
    [[nodiscard]] const std::string& topic() const noexcept { return options_.topic; }
    /// Its partitions (0 for a topic that is not partitioned).
    [[nodiscard]] std::uint32_t partitions() const noexcept { return partition_count_; }
    /// Messages enqueued and not yet settled, over every partition.
    [[nodiscard]] std::size_t pending() const noexcept {
        std::size_t n = 0;
        for (const auto& p : parts_) n += p->pending();
        return n;
    }
    /// The producers of the partitions (one for a topic that is not partitioned).
    [[nodiscard]] const std::vector<std::unique_ptr<partition_producer>>& partition_producers() const noexcept { return parts_; }

private:
    std::size_t choose(const outgoing_message& m) {
        if (parts_.size() == 1) return 0;
        if (m.key) return partition_for_key(*m.key, partition_count_, options_.hashing);
        return round_robin_++ % parts_.size();
    }

    client* client_;
    producer_options options_;
    std::uint32_t partition_count_ = 0;
    std::vector<std::unique_ptr<partition_producer>> parts_{};
    std::size_t round_robin_ = 0;
};

/// Settings of a dynamic_producer: the template for each topic's producer and the idle policy.
struct dynamic_producer_options {
    /// Options of every per-topic producer (its `topic` is the default for messages naming none).
    producer_options producer{};
    /// A topic's producer with nothing pending for this long is closed (0: never).
    std::chrono::milliseconds idle_timeout{60'000};
};

/// The "dynamic sink": each message may name its own topic (see the top of this header).
class dynamic_producer {
public:
    /// Produces through `c`, which outlives it.
    dynamic_producer(client& c, dynamic_producer_options options) : client_(&c), options_(std::move(options)) {}
    dynamic_producer(const dynamic_producer&) = delete;
    dynamic_producer& operator=(const dynamic_producer&) = delete;

    /// Starts the idle sweeper. Call once on the loop.
    void start() {
        if (options_.idle_timeout.count() > 0) tasks_.spawn(sweep());
    }

    /// Queues `m` to m.topic (or the default topic), creating that topic's producer on first use.
    [[nodiscard]] task<pending_send> enqueue(outgoing_message m) {
        std::string topic = m.topic ? *m.topic : options_.producer.topic;
        if (topic.empty()) {
            auto slot = std::make_shared<detail::send_slot>();
            slot->resolve(detail::send_failure(producer_error::kind::invalid, "pulsar: message names no topic and the dynamic producer has no default"));
            co_return pending_send{slot};
        }
        topic = normalize_topic(topic);
        m.topic.reset();
        auto e = co_await entry_for(topic);
        if (!e->p) {
            auto slot = std::make_shared<detail::send_slot>();
            slot->resolve(detail::send_failure(producer_error::kind::broker, e->error));
            co_return pending_send{slot};
        }
        e->last_used = std::chrono::steady_clock::now();
        co_return co_await e->p->enqueue(std::move(m));
    }

    /// Sends `m` to its topic and returns its outcome.
    [[nodiscard]] task<result<message_id>> send(outgoing_message m) {
        auto p = co_await enqueue(std::move(m));
        co_return co_await p.wait();
    }

    /// Flushes every topic's producer.
    [[nodiscard]] task<void> flush() {
        for (auto& [t, e] : producers_)
            if (e->p) co_await e->p->flush();
    }

    /// Closes every producer and the sweeper.
    [[nodiscard]] task<void> close() {
        stop_.request_stop();
        auto all = std::move(producers_);
        producers_.clear();
        for (auto& [t, e] : all)
            if (e->p) co_await e->p->close();
        co_await tasks_.join();
    }

    /// The collector processor: each payload to the topic its message names.
    template <class T>
    [[nodiscard]] typename collector<T, message_id>::processor_type processor(std::function<outgoing_message(const payload<T>&)> to_message) {
        return [this, to_message = std::move(to_message)](const payload<T>& p, collector_context&) -> task<message_id> {
            outgoing_message m = to_message(p);
            auto r = co_await send(std::move(m));
            co_return r.value();
        };
    }

    /// Topics with an open producer.
    [[nodiscard]] std::vector<std::string> topics() const {
        std::vector<std::string> out;
        for (const auto& [t, e] : producers_)
            if (e->p) out.push_back(t);
        return out;
    }
    /// Producers created so far.
    [[nodiscard]] std::uint64_t created() const noexcept { return created_; }
    /// Producers closed for idleness so far.
    [[nodiscard]] std::uint64_t closed_idle() const noexcept { return closed_idle_; }

private:
    struct entry {
        async_event ready;
        std::unique_ptr<producer> p;
        std::string error;
        std::chrono::steady_clock::time_point last_used;
    };

    task<std::shared_ptr<entry>> entry_for(const std::string& topic) {
        auto it = producers_.find(topic);
        if (it != producers_.end()) {
            auto e = it->second;
            co_await e->ready.wait();
            if (e->p) co_return e;
            producers_.erase(topic); // the creation failed: the next message tries again
        }
        auto e = std::make_shared<entry>();
        producers_.emplace(topic, e);
        producer_options o = options_.producer;
        o.topic = topic;
        auto p = std::make_unique<producer>(*client_, std::move(o));
        try {
            co_await p->start();
            e->p = std::move(p);
            ++created_;
        } catch (const std::exception& ex) {
            e->error = std::string("pulsar: cannot create a producer for ") + topic + ": " + ex.what();
        }
        e->ready.set();
        co_return e;
    }

    task<void> sweep() {
        try {
            for (;;) {
                co_await client_->loop().sleep_for(options_.idle_timeout / 2, stop_.get_token());
                const auto now = std::chrono::steady_clock::now();
                std::vector<std::shared_ptr<entry>> idle;
                for (auto it = producers_.begin(); it != producers_.end();) {
                    auto& e = it->second;
                    if (e->p && e->p->pending() == 0 && now - e->last_used > options_.idle_timeout) {
                        idle.push_back(e);
                        it = producers_.erase(it);
                    } else {
                        ++it;
                    }
                }
                for (auto& e : idle) {
                    co_await e->p->close();
                    ++closed_idle_;
                }
            }
        } catch (const operation_cancelled&) {
        }
    }

    client* client_;
    dynamic_producer_options options_;
    std::unordered_map<std::string, std::shared_ptr<entry>> producers_{};
    std::uint64_t created_ = 0;
    std::uint64_t closed_idle_ = 0;
    std::stop_source stop_{};
    async_scope tasks_{};
};

} // namespace sluice::pulsar
