#pragma once

// The dead-letter policy, applied client-side as the Java and C++ clients do: a message whose broker
// redelivery count exceeds max_redeliver_count is produced to the dead-letter topic (by default
// <topic>-<subscription>-DLQ) with its payload, key and properties, plus where it came from:
// REAL_TOPIC (the original topic) and ORIGIN_MESSAGE_ID (ledger:entry:partition:batch_index), and only
// then acknowledged on the original subscription. The producer to the dead-letter topic is created on
// first use and shared by the consumer's messages.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <sluice/pulsar/producer.hpp>

namespace sluice::pulsar {

/// When a consumer gives up on a message and where it puts it (the official client's DeadLetterPolicy).
struct dead_letter_policy {
    /// Deliveries after the first before a message goes to the dead-letter topic.
    std::uint32_t max_redeliver_count = 3;
    /// Empty: `<topic>-<subscription>-DLQ`.
    std::string dead_letter_topic{};
    /// Options of the dead-letter producer (its topic is set from the above).
    producer_options producer{};
};

/// Produces dead letters for one consumer.
class dead_letter_producer {
public:
    /// Dead letters of `subscription` on `topic`, produced through `c` (which outlives it).
    dead_letter_producer(client& c, dead_letter_policy policy, const std::string& topic, const std::string& subscription)
        : client_(&c), policy_(std::move(policy)), origin_topic_(topic) {
        if (policy_.dead_letter_topic.empty()) policy_.dead_letter_topic = topic + "-" + subscription + "-DLQ";
        policy_.dead_letter_topic = normalize_topic(policy_.dead_letter_topic);
    }

    /// The policy, its topic resolved.
    [[nodiscard]] const dead_letter_policy& policy() const noexcept { return policy_; }
    /// The dead-letter topic (full name).
    [[nodiscard]] const std::string& topic() const noexcept { return policy_.dead_letter_topic; }

    /// Produces `m` to the dead-letter topic; true once the broker stored it.
    [[nodiscard]] task<bool> send(received_message m) {
        if (!producer_) {
            producer_options o = policy_.producer;
            o.topic = policy_.dead_letter_topic;
            auto p = std::make_unique<producer>(*client_, std::move(o));
            try {
                co_await p->start();
            } catch (const std::exception&) {
                co_return false;
            }
            if (!producer_) producer_ = std::move(p); // another message may have won the race
            else co_await p->close();
        }
        outgoing_message out;
        out.payload = std::move(m.payload);
        out.key = std::move(m.key);
        out.ordering_key = std::move(m.ordering_key);
        out.properties = std::move(m.properties);
        out.properties.push_back({"REAL_TOPIC", origin_topic_});
        out.properties.push_back({"ORIGIN_MESSAGE_ID", m.id.to_string()});
        if (m.corrupt) out.properties.push_back({"SLUICE_CORRUPT", *m.corrupt});
        out.event_time = m.event_time;
        auto r = co_await producer_->send(std::move(out));
        co_return r.is_ok();
    }

    /// Flushes and closes the dead-letter producer.
    [[nodiscard]] task<void> close() {
        if (producer_) co_await producer_->close();
    }

private:
    client* client_;
    dead_letter_policy policy_;
    std::string origin_topic_;
    std::unique_ptr<producer> producer_{};
};

} // namespace sluice::pulsar
