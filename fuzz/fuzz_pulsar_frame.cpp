// libFuzzer harness for what a Pulsar client reads from the network: the frame decoder (sizes,
// BaseCommand and every command's protobuf, the message part with its magic, checksum and
// MessageMetadata, broker entry metadata), then what a consumer does with a message: decompression
// bounded by uncompressed_size (LZ4, ZLIB, ZSTD, SNAPPY) and batch splitting.
//
// No fuzz/ CMake setup exists yet; build and run it standalone:
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//     -DSLUICE_HAS_LZ4=1 -DSLUICE_HAS_ZSTD=1 -DSLUICE_HAS_ZLIB=1 -DSLUICE_HAS_SNAPPY=1 -Iinclude fuzz/fuzz_pulsar_frame.cpp \
//     -o /tmp/fuzz_pulsar_frame -llz4 -lzstd -lz -lsnappy
//   mkdir -p /tmp/pulsar-corpus && /tmp/fuzz_pulsar_frame -runs=2000000 /tmp/pulsar-corpus
// The first input byte chooses how the rest is cut into reads (exercising reassembly).

#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/frames.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

void consume_message(const sluice::pulsar::frame& f) {
    using namespace sluice::pulsar;
    if (!f.has_payload || !f.checksum_ok) return;
    static payload_codec codec;
    std::string plain;
    std::string_view body = f.payload;
    const auto c = f.metadata.compression.value_or(compression_type::none);
    if (c != compression_type::none) {
        const std::size_t size = f.metadata.uncompressed_size.value_or(0);
        if (size > (1u << 20)) return; // the client refuses more than max_message_size; keep runs fast
        try {
            codec.decompress(c, f.payload, size, plain);
        } catch (const std::exception&) {
            return;
        }
        body = plain;
    }
    if (f.metadata.num_messages_in_batch) {
        try {
            auto entries = read_batch(body, *f.metadata.num_messages_in_batch);
            for (const auto& e : entries)
                if (e.payload.size() > body.size()) __builtin_trap();
        } catch (const protocol_error&) {
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    sluice::pulsar::frame_decoder decoder(1u << 16);
    try {
        for (std::size_t at = 0; at < in.size(); at += chunk) {
            decoder.feed(in.substr(at, chunk));
            while (auto f = decoder.next()) consume_message(*f);
        }
    } catch (const sluice::pulsar::protocol_error&) {
        // the connection would be closed: the expected outcome for most inputs
    }
    return 0;
}
