#pragma once

// What a Pulsar client reads from the network: the frame decoder (sizes, BaseCommand and every
// command's protobuf, the message part with its magic, checksum and MessageMetadata, broker entry
// metadata), then what a consumer does with a message: decompression bounded by uncompressed_size
// (LZ4, ZLIB, ZSTD, SNAPPY, as this build has them) and batch splitting. What must hold besides the
// sanitizers: a malformed stream ends in protocol_error (nothing else escapes); the stream gives the
// same frames (command, payload flag, checksum verdict, payload size), and breaks at the same frame,
// whether it is fed whole or in reads of the size the input chooses; a batch entry lies inside its batch.
//
// Input: u8 read size (1 + n % 64), then the byte stream.

#include "../fuzz.hpp"

#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/frames.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace pulsar_frame_detail {

/// Decompresses and splits a message as a consumer would.
inline void consume_message(const sluice::pulsar::frame& f) {
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
            return; // compression_error, or a codec this build lacks (std::invalid_argument)
        }
        body = plain;
    }
    if (f.metadata.num_messages_in_batch) {
        try {
            const auto entries = read_batch(body, *f.metadata.num_messages_in_batch);
            for (const auto& e : entries)
                SLUICE_FUZZ_CHECK(e.payload.data() >= body.data() &&
                                      e.payload.data() + e.payload.size() <= body.data() + body.size(),
                                  "a batch entry outside its batch");
        } catch (const protocol_error&) {
        }
    }
}

/// One line per frame, and "broken" when the stream broke the protocol.
inline std::vector<std::string> decode(std::string_view in, std::size_t chunk) {
    sluice::pulsar::frame_decoder decoder(1u << 16);
    std::vector<std::string> out;
    try {
        for (std::size_t at = 0; at < in.size(); at += chunk) {
            decoder.feed(in.substr(at, chunk));
            while (auto f = decoder.next()) {
                out.push_back(std::to_string(f->command.index()) + (f->has_payload ? " payload " : " ") +
                              (f->checksum_ok ? "ok " : "bad ") + std::to_string(f->payload.size()));
                consume_message(*f);
            }
        }
    } catch (const sluice::pulsar::protocol_error&) {
        out.emplace_back("broken"); // the connection would be closed: the outcome for most inputs
    }
    return out;
}

} // namespace pulsar_frame_detail

SLUICE_FUZZ_TARGET(pulsar_frame) {
    if (data.empty()) return;
    const std::size_t chunk = 1 + data[0] % 64;
    const std::string_view in = as_text(data).substr(1);
    const auto pieces = pulsar_frame_detail::decode(in, chunk);
    const auto whole = pulsar_frame_detail::decode(in, in.size() + 1);
    SLUICE_FUZZ_CHECK(pieces == whole, "the stream decodes differently in reads of " + std::to_string(chunk));
}

} // namespace sluice_fuzz
