// The Pulsar producer's cost per message: 200-byte messages with a key and a property, batched (1000
// per batch) and LZ4-compressed, next to encoding the same frames alone in the same run:
//
//   encode/frames    the protocol encoding the producer does for a batch: SingleMessageMetadata per
//                    message, LZ4 of the batch, MessageMetadata, SEND and the frame with its CRC32C
//                    (what one message costs to put on the wire, without any I/O)
//   produce/null     partition_producer::enqueue of every message and the wait for its receipt, over
//                    loopback TCP to a null broker on the same loop: it cuts and decodes the frames
//                    (frame_decoder, CRC32C checked) and answers each SEND with a SEND_RECEIPT, so the
//                    time is the client's whole path plus the least a broker must do
//
// CPU time per message (process CPU on one thread, the broker's included) and messages per second;
// the summary prints produce/encode. Build it optimised (the `dev` preset is a Debug build):
//   g++ -O2 -DNDEBUG -std=c++20 -Iinclude -DSLUICE_HAS_LZ4=1 bench/bench_pulsar.cpp -o bench_pulsar
//       -lbenchmark -llz4 -luring -pthread

#include <benchmark/benchmark.h>

#include "median_reporter.hpp"

#if SLUICE_HAS_LZ4

#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>
#include <sluice/pulsar/producer.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::pulsar;

constexpr std::size_t batch_size = 1000;
constexpr std::size_t message_bytes = 200;

std::string body(std::size_t i) {
    std::string b = R"({"event":"click","user":)" + std::to_string(i % 977) + R"(,"page":"/products/)" + std::to_string(i % 131) + "\"";
    while (b.size() < message_bytes - 1) b += ",\"pad\":\"" + std::string(std::min<std::size_t>(20, message_bytes - b.size()), 'x') + '"';
    b.resize(message_bytes - 1);
    b += '}';
    return b;
}

void encode_frames(benchmark::State& state) {
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < batch_size; ++i) bodies.push_back(body(i));
    payload_codec codec;
    std::string batch, compressed, frame;
    std::uint64_t seq = 0;
    for (auto _ : state) {
        batch.clear();
        for (std::size_t i = 0; i < batch_size; ++i) {
            proto::single_message_metadata smm;
            smm.partition_key = "user-" + std::to_string(i % 977);
            smm.properties.push_back({"source", "bench"});
            smm.sequence_id = seq++;
            append_batch_entry(batch, smm, bodies[i]);
        }
        compressed.clear();
        codec.compress(compression_type::lz4, batch, compressed);
        proto::message_metadata md;
        md.producer_name = "bench";
        md.sequence_id = seq - batch_size;
        md.publish_time = now_millis();
        md.num_messages_in_batch = static_cast<std::int32_t>(batch_size);
        md.compression = compression_type::lz4;
        md.uncompressed_size = static_cast<std::uint32_t>(batch.size());
        proto::send s;
        s.producer_id = 1;
        s.sequence_id = md.sequence_id;
        s.num_messages = static_cast<std::int32_t>(batch_size);
        frame.clear();
        append_payload_frame(frame, s, md, compressed);
        benchmark::DoNotOptimize(frame.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(encode_frames)->Name("encode/frames"); // nanoseconds: the summary reads them as such

/// Answers what a producer needs; decodes every frame (CRC included) and acknowledges every SEND.
task<void> null_broker_connection(tcp_stream s, std::uint16_t port) {
    frame_decoder decoder;
    std::string out;
    try {
        for (;;) {
            auto buf = decoder.prepare(256u << 10);
            const std::size_t n = co_await s.read_some(buf);
            decoder.commit(n);
            if (n == 0) break;
            out.clear();
            while (auto f = decoder.next()) {
                if (std::holds_alternative<proto::connect>(f->command)) {
                    proto::connected c;
                    c.server_version = "null";
                    c.protocol_version = protocol_version;
                    append_simple_frame(out, c);
                } else if (auto* m = std::get_if<proto::partitioned_metadata>(&f->command)) {
                    proto::partitioned_metadata_response r;
                    r.request_id = m->request_id;
                    r.partitions = 0;
                    append_simple_frame(out, r);
                } else if (auto* l = std::get_if<proto::lookup>(&f->command)) {
                    proto::lookup_response r;
                    r.request_id = l->request_id;
                    r.response = lookup_type::connect;
                    r.broker_service_url = "pulsar://127.0.0.1:" + std::to_string(port);
                    append_simple_frame(out, r);
                } else if (auto* p = std::get_if<proto::producer>(&f->command)) {
                    proto::producer_success r;
                    r.request_id = p->request_id;
                    r.producer_name = "bench";
                    append_simple_frame(out, r);
                } else if (auto* snd = std::get_if<proto::send>(&f->command)) {
                    if (!f->checksum_ok) throw std::runtime_error("checksum");
                    proto::send_receipt r;
                    r.producer_id = snd->producer_id;
                    r.sequence_id = snd->sequence_id;
                    r.message_id.emplace().entry_id = snd->sequence_id;
                    append_simple_frame(out, r);
                } else if (auto* cp = std::get_if<proto::close_producer>(&f->command)) {
                    proto::success r;
                    r.request_id = cp->request_id;
                    append_simple_frame(out, r);
                }
            }
            if (!out.empty()) co_await s.write_all(out);
        }
    } catch (const std::exception&) {
    }
}

void produce_null(benchmark::State& state) {
    io_loop loop;
    tcp_listener listener(loop);
    const auto port = listener.port();
    auto accept = [&]() -> task<void> {
        auto s = co_await listener.accept();
        co_await null_broker_connection(std::move(s), port);
    };
    loop.spawn(accept());
    client cl(loop, {.service_url = "pulsar://127.0.0.1:" + std::to_string(port)});
    producer_options o;
    o.topic = "bench";
    o.compression = compression_type::lz4;
    o.max_pending_messages = 20'000;
    o.block_if_queue_full = true;
    producer p(cl, o);
    loop.run_until_complete(p.start());
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < batch_size; ++i) bodies.push_back(body(i));
    constexpr std::size_t per_iteration = 10 * batch_size;
    for (auto _ : state) {
        loop.run_until_complete([&]() -> task<void> {
            std::vector<pending_send> pending;
            pending.reserve(per_iteration);
            for (std::size_t i = 0; i < per_iteration; ++i) {
                outgoing_message m;
                m.payload = bodies[i % batch_size];
                m.key = "user-" + std::to_string(i % 977);
                m.properties.push_back({"source", "bench"});
                pending.push_back(co_await p.enqueue(std::move(m)));
            }
            for (auto& s : pending) {
                auto r = co_await s.wait();
                if (!r.is_ok()) throw std::runtime_error("send failed");
            }
        }());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
    loop.run_until_complete(p.close());
    cl.close();
    loop.drain();
}
BENCHMARK(produce_null)->Name("produce/null");

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    const double encode = reporter.median_ns("encode/frames") / batch_size;
    const double produce = reporter.median_ns("produce/null") / (10 * batch_size);
    if (encode > 0 && produce > 0)
        std::printf("\nper message (200 bytes, batches of %zu, LZ4): encode %.0f ns CPU, produce into a null broker %.0f ns CPU "
                    "(%.2fx the encoding; %.0f messages per CPU-second)\n",
                    batch_size, encode, produce, produce / encode, 1e9 / produce);
    benchmark::Shutdown();
}

#else
int main() {
    std::puts("bench_pulsar needs lz4 (SLUICE_HAS_LZ4)");
}
#endif
