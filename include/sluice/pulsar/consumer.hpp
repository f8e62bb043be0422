#pragma once

// consumer: the source. SUBSCRIBE (Exclusive, Shared, Failover, Key_Shared; Latest or Earliest), FLOW
// permits from a receiver queue (half of it granted again as messages are taken), MESSAGE frames
// checked, decompressed and split into their batch's messages, individual and cumulative ACK (a batch
// is acknowledged once every message in it is), negative acknowledgement (REDELIVER_UNACKNOWLEDGED_
// MESSAGES after a delay), an ack timeout, and a dead-letter policy applied client-side as the
// official clients do: a message delivered more than max_redeliver_count times again is produced to
// the dead-letter topic (<topic>-<subscription>-DLQ by default) with its origin in properties
// (REAL_TOPIC, ORIGIN_MESSAGE_ID), then acknowledged.
//
// A message the client cannot read (checksum mismatch, undecodable compression or batch) is not
// dropped: it is handed out with `corrupt` set and its raw bytes, so the application's error path
// (nack, then the dead-letter topic) accounts for it.
//
// After a lost connection the consumer subscribes again with backoff; what it had received but not
// handed out is discarded, since the broker redelivers everything unacknowledged.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/pulsar/dead_letter.hpp>

namespace sluice::pulsar {

/// What a consumer subscribes to and how.
struct consumer_options {
    /// The topic (or one partition of a partitioned topic: `<topic>-partition-<i>`).
    std::string topic;
    /// The subscription's name.
    std::string subscription;
    /// Exclusive, shared, failover or key-shared.
    subscription_type type = subscription_type::exclusive;
    /// Where a new subscription starts: the latest or the earliest message.
    initial_position initial = initial_position::latest;
    /// The consumer's name; empty: none is sent.
    std::string name{};
    /// Messages the broker may push ahead of the application (FLOW permits).
    std::uint32_t receiver_queue_size = 1000;
    /// A message neither acked nor nacked within this time is redelivered (0: never).
    std::chrono::milliseconds ack_timeout{0};
    /// Delay before a negatively acknowledged message is redelivered.
    std::chrono::milliseconds negative_ack_delay{60'000};
    /// Dead-letter policy; unset: messages are redelivered forever.
    std::optional<dead_letter_policy> dead_letter{};
    /// The first wait before reconnecting after the connection ended; doubles up to the max.
    std::chrono::milliseconds reconnect_initial_backoff{100};
    /// The longest wait between reconnection attempts.
    std::chrono::milliseconds reconnect_max_backoff{30'000};
};

/// The consumer was closed while receiving.
class consumer_closed : public std::runtime_error {
public:
    consumer_closed() : std::runtime_error("pulsar: consumer closed") {}
};

/// Counters of a consumer.
struct consumer_stats {
    std::uint64_t received = 0;       ///< messages handed to the application
    std::uint64_t acked = 0;          ///< messages acknowledged
    std::uint64_t nacked = 0;         ///< negative acknowledgements
    std::uint64_t corrupt = 0;        ///< messages the client could not read (handed out as corrupt)
    std::uint64_t dead_lettered = 0;  ///< produced to the dead-letter topic and acknowledged
    std::uint64_t redelivery_requests = 0; ///< REDELIVER_UNACKNOWLEDGED_MESSAGES commands sent
    std::uint64_t reconnects = 0;          ///< times it subscribed again after a connection ended
};

/// Receives messages of one subscription: flow control, acknowledgements, negative acknowledgements,
/// redelivery and dead letters, and resubscription after a broker restart.
class consumer final : connection_handler {
public:
    /// A consumer through `c` (which outlives it); start() subscribes.
    consumer(client& c, consumer_options options)
        : client_(&c), options_(std::move(options)),
          backoff_({.max_attempts = ~0u, .initial_backoff = options_.reconnect_initial_backoff,
                    .max_backoff = options_.reconnect_max_backoff, .max_elapsed = std::chrono::milliseconds::max()}) {
        options_.topic = normalize_topic(options_.topic);
        if (options_.subscription.empty()) throw std::invalid_argument("pulsar: a consumer needs a subscription name");
        if (options_.receiver_queue_size == 0) options_.receiver_queue_size = 1;
        if (options_.dead_letter) dlq_.emplace(c, *options_.dead_letter, options_.topic, options_.subscription);
    }
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;
    ~consumer() {
        if (conn_) conn_->remove_consumer(id_);
    }

    /// Subscribes and grants the first permits. Throws connection_error or broker_error.
    [[nodiscard]] task<void> start() {
        id_ = client_->next_consumer_id();
        co_await subscribe();
        tasks_.spawn(timer_loop());
    }

    /// The next message, waiting for one. Throws consumer_closed once closed, operation_cancelled when
    /// `stop` fires first.
    [[nodiscard]] task<received_message> receive(std::stop_token stop = {}) {
        for (;;) {
            if (closed_) throw consumer_closed();
            if (!queue_.empty()) break;
            arrived_.reset();
            co_await arrived_.wait(stop);
        }
        received_message m = std::move(queue_.front());
        queue_.pop_front();
        taken();
        if (options_.ack_timeout.count() > 0) unacked_[entry_key(m.id)] = clock::now() + options_.ack_timeout;
        ++stats_.received;
        co_return m;
    }

    /// Acknowledges one message (its batch's entry once all of the batch is acknowledged).
    void acknowledge(const message_id& id) {
        ++stats_.acked;
        const auto key = entry_key(id);
        if (id.batch_index >= 0 && id.batch_size > 1) {
            auto& b = batches_[key];
            b.insert(id.batch_index);
            if (b.size() < static_cast<std::size_t>(id.batch_size)) return;
            batches_.erase(key);
        }
        unacked_.erase(key);
        nacks_.erase(key);
        send_ack(id, ack_type::individual);
    }

    /// Acknowledges every message up to and including `id` (Exclusive and Failover subscriptions).
    void acknowledge_cumulative(const message_id& id) {
        ++stats_.acked;
        const auto key = entry_key(id);
        for (auto it = unacked_.begin(); it != unacked_.end() && it->first <= key;) it = unacked_.erase(it);
        for (auto it = batches_.begin(); it != batches_.end() && it->first <= key;) it = batches_.erase(it);
        // A message nacked earlier is covered too: redelivering it would hand out an acknowledged message.
        for (auto it = nacks_.begin(); it != nacks_.end() && it->first <= key;) it = nacks_.erase(it);
        send_ack(id, ack_type::cumulative);
    }

    /// Asks for `id` (its whole entry) to be delivered again after negative_ack_delay.
    void negative_acknowledge(const message_id& id) {
        ++stats_.nacked;
        const auto key = entry_key(id);
        unacked_.erase(key);
        nacks_[key] = {id, clock::now() + options_.negative_ack_delay};
    }

    /// Closes the consumer: CLOSE_CONSUMER, the timers, the dead-letter producer. Unacknowledged
    /// messages go back to the broker for redelivery.
    [[nodiscard]] task<void> close() {
        if (closed_) co_return;
        closed_ = true;
        stop_.request_stop();
        arrived_.set();
        if (conn_ && connected_) {
            proto::close_consumer c;
            c.consumer_id = id_;
            c.request_id = conn_->next_request_id();
            std::string f;
            append_simple_frame(f, c);
            auto conn = conn_;
            try {
                (void)co_await conn->request(std::move(f), c.request_id);
            } catch (const std::exception&) {
            }
            conn->remove_consumer(id_);
        }
        if (dlq_) co_await dlq_->close();
        co_await tasks_.join();
    }

    /// The topic (full name).
    [[nodiscard]] const std::string& topic() const noexcept { return options_.topic; }
    /// The options it was made with.
    [[nodiscard]] const consumer_options& options() const noexcept { return options_; }
    /// Counters so far.
    [[nodiscard]] const consumer_stats& stats() const noexcept { return stats_; }
    /// True while subscribed on a live connection.
    [[nodiscard]] bool connected() const noexcept { return connected_; }
    /// Messages received from the broker and not yet taken by receive().
    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }

private:
    using clock = std::chrono::steady_clock;
    using entry = std::pair<std::uint64_t, std::uint64_t>; // ledger, entry

    static entry entry_key(const message_id& id) noexcept { return {id.ledger_id, id.entry_id}; }

    [[nodiscard]] std::size_t max_message_size() const noexcept {
        return conn_ ? conn_->max_message_size() : default_max_message_size;
    }

    void send_ack(const message_id& id, ack_type kind) {
        if (!connected_) return; // the broker redelivers after the reconnect; acked again then
        proto::ack a;
        a.consumer_id = id_;
        a.kind = kind;
        a.message_ids.push_back(id.entry_data());
        conn_->send_command(a);
    }

    void taken() {
        if (++taken_since_flow_ >= std::max<std::uint32_t>(1, options_.receiver_queue_size / 2)) {
            grant(taken_since_flow_);
            taken_since_flow_ = 0;
        }
    }

    void grant(std::uint32_t permits) {
        if (!connected_ || permits == 0) return;
        proto::flow f;
        f.consumer_id = id_;
        f.message_permits = permits;
        conn_->send_command(f);
    }

    // ---- incoming messages --------------------------------------------------------------------

    void on_frame(frame& f) override {
        if (auto* m = std::get_if<proto::message>(&f.command)) return on_message(*m, f);
        if (std::holds_alternative<proto::close_consumer>(f.command)) {
            if (conn_) conn_->remove_consumer(id_);
            on_disconnected();
        }
    }

    void on_message(const proto::message& cmd, frame& f) {
        message_id base;
        base.ledger_id = cmd.message_id.ledger_id;
        base.entry_id = cmd.message_id.entry_id;
        base.partition = cmd.message_id.partition.value_or(-1);
        const std::uint32_t redeliveries = cmd.redelivery_count.value_or(0);
        std::vector<received_message> out;
        try {
            out = unpack(f, base, redeliveries);
        } catch (const std::exception& e) {
            out.clear();
            out.push_back(corrupt_message(f, base, redeliveries, e.what()));
        }
        const auto key = entry_key(base);
        auto acked = batches_.find(key);
        for (auto& m : out) {
            // Messages of a redelivered batch that were acknowledged already are not handed out again.
            if (acked != batches_.end() && m.id.batch_index >= 0 && acked->second.count(m.id.batch_index)) {
                taken();
                continue;
            }
            if (dlq_ && redeliveries > dlq_->policy().max_redeliver_count) {
                taken();
                tasks_.spawn(dead_letter(std::move(m)));
                continue;
            }
            queue_.push_back(std::move(m));
        }
        arrived_.set();
    }

    std::vector<received_message> unpack(frame& f, const message_id& base, std::uint32_t redeliveries) {
        if (!f.checksum_ok) throw protocol_error("pulsar: checksum mismatch");
        const auto& md = f.metadata;
        if (!md.encryption.empty()) throw protocol_error("pulsar: encrypted message (sluice does not decrypt)");
        std::string_view body = f.payload;
        if (md.compression && *md.compression != compression_type::none) {
            const std::size_t size = md.uncompressed_size.value_or(0);
            if (size > max_message_size()) throw protocol_error("pulsar: uncompressed_size " + std::to_string(size) + " exceeds max_message_size");
            codec_.decompress(*md.compression, f.payload, size, plain_);
            body = plain_;
        }
        std::vector<received_message> out;
        auto common = [&](received_message& m) {
            m.topic = options_.topic;
            m.publish_time = md.publish_time;
            m.producer_name = md.producer_name;
            m.redelivery_count = redeliveries;
        };
        if (!md.num_messages_in_batch) {
            received_message m;
            m.id = base;
            common(m);
            m.payload.assign(body);
            m.key = md.partition_key;
            m.ordering_key = md.ordering_key;
            m.properties = md.properties;
            m.event_time = md.event_time.value_or(0);
            m.sequence_id = md.sequence_id;
            out.push_back(std::move(m));
            return out;
        }
        auto entries = read_batch(body, *md.num_messages_in_batch);
        const auto n = static_cast<std::int32_t>(entries.size());
        for (std::int32_t i = 0; i < n; ++i) {
            auto& e = entries[static_cast<std::size_t>(i)];
            received_message m;
            m.id = base;
            m.id.batch_index = i;
            m.id.batch_size = n;
            common(m);
            m.payload.assign(e.payload);
            m.key = std::move(e.metadata.partition_key);
            m.ordering_key = std::move(e.metadata.ordering_key);
            m.properties = std::move(e.metadata.properties);
            m.event_time = e.metadata.event_time.value_or(0);
            m.sequence_id = e.metadata.sequence_id.value_or(md.sequence_id + static_cast<std::uint64_t>(i));
            if (e.metadata.compacted_out.value_or(false)) continue;
            out.push_back(std::move(m));
        }
        return out;
    }

    received_message corrupt_message(frame& f, const message_id& base, std::uint32_t redeliveries, const std::string& why) {
        ++stats_.corrupt;
        received_message m;
        m.id = base;
        m.topic = options_.topic;
        m.payload.assign(f.payload);
        m.redelivery_count = redeliveries;
        m.corrupt = why;
        return m;
    }

    task<void> dead_letter(received_message m) {
        const message_id id = m.id;
        const bool ok = co_await dlq_->send(std::move(m));
        if (ok) {
            ++stats_.dead_lettered;
            acknowledge(id);
        } else {
            negative_acknowledge(id); // the dead-letter topic refused it: try again later
        }
    }

    // ---- redelivery timers --------------------------------------------------------------------

    task<void> timer_loop() {
        auto tick = std::chrono::milliseconds(100);
        if (options_.negative_ack_delay.count() > 0) tick = std::min(tick, std::max(std::chrono::milliseconds(5), options_.negative_ack_delay / 4));
        if (options_.ack_timeout.count() > 0) tick = std::min(tick, std::max(std::chrono::milliseconds(5), options_.ack_timeout / 4));
        try {
            for (;;) {
                co_await client_->loop().sleep_for(tick, stop_.get_token());
                redeliver_due();
            }
        } catch (const operation_cancelled&) {
        }
    }

    void redeliver_due() {
        if (!connected_) return;
        const auto now = clock::now();
        proto::redeliver_unacknowledged_messages r;
        r.consumer_id = id_;
        for (auto it = nacks_.begin(); it != nacks_.end();) {
            if (it->second.second > now) {
                ++it;
                continue;
            }
            r.message_ids.push_back(it->second.first.entry_data());
            it = nacks_.erase(it);
        }
        for (auto it = unacked_.begin(); it != unacked_.end();) {
            if (it->second > now) {
                ++it;
                continue;
            }
            message_id id;
            id.ledger_id = it->first.first;
            id.entry_id = it->first.second;
            r.message_ids.push_back(id.entry_data());
            it = unacked_.erase(it);
        }
        if (r.message_ids.empty()) return;
        ++stats_.redelivery_requests;
        conn_->send_command(r);
    }

    // ---- connecting ---------------------------------------------------------------------------

    task<void> subscribe() {
        auto conn = co_await client_->connection_for(options_.topic);
        proto::subscribe s;
        s.topic = options_.topic;
        s.subscription = options_.subscription;
        s.sub_type = options_.type;
        s.consumer_id = id_;
        s.request_id = conn->next_request_id();
        if (!options_.name.empty()) s.consumer_name = options_.name;
        s.initial = options_.initial;
        s.durable = true;
        if (options_.type == subscription_type::key_shared) s.key_shared.emplace().mode = key_shared_mode::auto_split;
        conn->add_consumer(id_, this); // before the request: messages may follow SUCCESS at once
        std::string f;
        append_simple_frame(f, s);
        try {
            (void)co_await conn->request(std::move(f), s.request_id);
        } catch (...) {
            conn->remove_consumer(id_);
            throw;
        }
        conn_ = std::move(conn);
        connected_ = true;
        queue_.clear();
        taken_since_flow_ = 0;
        grant(options_.receiver_queue_size);
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
                co_await subscribe();
                ++stats_.reconnects;
                break;
            } catch (const operation_cancelled&) {
                break;
            } catch (const std::exception&) {
                // try again after the next backoff
            }
        }
        reconnecting_ = false;
    }

    client* client_;
    consumer_options options_;
    std::uint64_t id_ = 0;
    std::shared_ptr<connection> conn_{};
    bool connected_ = false;
    bool reconnecting_ = false;
    bool closed_ = false;
    std::deque<received_message> queue_{};
    async_event arrived_{};
    std::uint32_t taken_since_flow_ = 0;
    std::map<entry, std::set<std::int32_t>> batches_{};
    std::map<entry, clock::time_point> unacked_{};
    std::map<entry, std::pair<message_id, clock::time_point>> nacks_{};
    std::optional<dead_letter_producer> dlq_{};
    payload_codec codec_{};
    std::string plain_{};
    backoff_policy backoff_;
    consumer_stats stats_{};
    std::stop_source stop_{};
    async_scope tasks_{};
};

} // namespace sluice::pulsar
