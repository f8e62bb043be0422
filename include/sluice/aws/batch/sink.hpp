#pragma once

// batch_sink<Service>: the delivery engine's adapter for any AWS batch API. The engine hands it a
// batch of entries the service encoded once (at submit); the sink wraps them in a request, signs and
// sends it through service_client with one attempt (the engine owns attempts and backoff), and maps
// the answer to one outcome per entry: the whole request's classification when the service refused
// it (the service's error table first), or the service's own per-entry mapping when it answered 2xx.
//
// A service may also repair what made a request fail and have it sent again, once, at once: with
// `task<bool> recover(service_client&, sink_batch, const call_failure&)` (CloudWatch Logs creates a
// missing log group and stream).

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/batch/sink.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <concepts>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/sink.hpp>

namespace sluice::aws {

/// Sends batches of one service's pre-encoded entries (see aws/batch/service.hpp).
template <batch_service Service>
class batch_sink {
public:
    /// Sends through `client` in the shape `service` describes; both outlive the sink.
    batch_sink(service_client& client, Service& service) : client_(&client), service_(&service) {}

    /// The service's limits for the engine: entries, request weight, and the largest encoded entry.
    [[nodiscard]] sink_limits limits() const {
        return batch_limits(service_->limits()).to_sink_limits(service_->max_encoded_record());
    }

    /// One request for `batch`; per-entry outcomes from the service's response mapping, or one
    /// classified failure for the whole request (the engine retries what is retryable).
    [[nodiscard]] task<batch_result> send(sink_batch batch) {
        buffers_lease lease(spare_buffers_);
        request_buffers& request = lease.buffers;
        typename Service::request_state state{};
        bool framed = false;
        if constexpr (frames_requests) framed = service_->frame_request(batch, request.frame, state);
        if (framed)
            request.frame.pieces(batch.records, request.pieces);
        else
            state = service_->encode_request(batch, request.body);
        call_options options;
        // A service that speaks more than one protocol (Kinesis: JSON or CBOR) says which per instance.
        if constexpr (requires(const Service& s) { s.wire(); })
            options.content_type = content_type(service_->wire());
        else
            options.content_type = content_type(Service::protocol);
        options.single_attempt = true;
        options.stop = cancel_token(batch);
        if constexpr (requires { service_->extra_headers(); }) options.extra_headers = service_->extra_headers();
        auto out = co_await call_once(request, framed, options);
        if constexpr (requires { service_->recover(*client_, batch, out.failure); }) {
            bool again = false;
            if (!out.ok()) again = co_await service_->recover(*client_, batch, out.failure);
            if (again) out = co_await call_once(request, framed, options);
        }
        if (!out.ok()) co_return batch_result::failed(classify_request(service_->errors(), out.failure.to_entry_result()));
        batch_result result = service_->read_response(out.response->body, batch, state);
        client_->http().recycle_body(std::move(out.response->body));
        co_return result;
    }

    /// The service traits this sink sends for.
    [[nodiscard]] Service& service() noexcept { return *service_; }

private:
    /// Services that describe a request as a frame around its entries (frame_request) have it sent
    /// in pieces: the entries are not copied into a body, which for 8 requests in flight of 500
    /// small Kinesis records is about 1.3 MB that no longer exists (10 MiB per request at most).
    static constexpr bool frames_requests =
        requires(const Service& s, sink_batch b, request_frame& f, typename Service::request_state& st) {
            { s.frame_request(b, f, st) } -> std::same_as<bool>;
        };

    /// What one request is built in: a body, or a frame and the pieces around the entries.
    struct request_buffers {
        std::string body;
        request_frame frame;
        std::vector<std::string_view> pieces;
    };

    /// Request buffers from the spares of earlier requests when there are some, given back after the
    /// call (a fresh ~160 KiB body per request cost page faults for every page and left holes
    /// between the small per-record blocks).
    struct buffers_lease {
        static constexpr std::size_t max_spares = 8;
        static constexpr std::size_t max_kept_capacity = 1 << 20;

        explicit buffers_lease(std::vector<request_buffers>& spares) : spares_(&spares) {
            if (!spares.empty()) {
                buffers = std::move(spares.back());
                spares.pop_back();
            }
        }
        buffers_lease(const buffers_lease&) = delete;
        buffers_lease& operator=(const buffers_lease&) = delete;
        ~buffers_lease() {
            if (spares_->size() >= max_spares || buffers.body.capacity() > max_kept_capacity) return;
            buffers.body.clear();
            buffers.pieces.clear();
            spares_->push_back(std::move(buffers));
        }

        request_buffers buffers;

    private:
        std::vector<request_buffers>* spares_;
    };

    /// One signed call with the request's body or pieces.
    task<call_outcome> call_once(const request_buffers& request, bool framed, call_options options) {
        if (framed) {
            const std::span<const std::string_view> pieces(request.pieces);
            co_return co_await client_->call_json(Service::target, pieces, std::move(options));
        }
        const std::string_view body(request.body);
        co_return co_await client_->call_json(Service::target, body, std::move(options));
    }

    /// The engine's cancellation of this request (stop's deadline), where the engine gives one.
    template <class Batch>
    static std::stop_token cancel_token(const Batch& b) {
        if constexpr (requires { b.cancel; })
            return b.cancel;
        else
            return {};
    }

    service_client* client_;
    Service* service_;
    std::vector<request_buffers> spare_buffers_;
};

} // namespace sluice::aws
