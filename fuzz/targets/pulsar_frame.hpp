#pragma once

// What a Pulsar client reads from the network: the frame decoder (sizes, BaseCommand and every
// command's protobuf, the message part with its magic, checksum and MessageMetadata, broker entry
// metadata), then what a consumer does with a message: decompression bounded by uncompressed_size
// (LZ4, ZLIB, ZSTD, SNAPPY, as this build has them), batch splitting and the payload serdes (UTF-8,
// JSON), and the broker URLs of a lookup answer. What must hold besides the sanitizers: a malformed
// stream ends in protocol_error (nothing else escapes); the stream gives the same frames (command,
// payload flag, checksum verdict, payload size), and breaks at the same frame, whether it is fed whole
// or in reads of the size the input chooses; a batch entry lies inside its batch; utf8_serde accepts
// exactly what text::check_utf8 accepts; JSON that json_serde accepts comes back the same through its
// pretty form; a broker URL parses or is refused with std::invalid_argument.
//
// Input: u8 read size (1 + n % 64), then the byte stream.

#include "../fuzz.hpp"

#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/frames.hpp>
#include <sluice/pulsar/lookup.hpp>
#include <sluice/pulsar/json_serde.hpp>
#include <sluice/pulsar/serdes.hpp>
#include <sluice/text/utf8.hpp>

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace pulsar_frame_detail {

/// What a consumer's serdes make of a payload.
inline void deserialize(std::string_view payload) {
    using namespace sluice::pulsar;
    const auto text = utf8_serde{}.deserialize(payload);
    SLUICE_FUZZ_CHECK(text.is_ok() == sluice::text::check_utf8(payload).ok(), "two UTF-8 validators disagree");
#if SLUICE_HAS_SIMDJSON
    static const json_serde compact, pretty(true);
    const auto json = compact.deserialize(payload);
    if (!json) return;
    const auto again = compact.deserialize(pretty.serialize(json.value()));
    SLUICE_FUZZ_CHECK(again && again.value() == json.value(), "JSON changed through its pretty form: " + show(json.value().text));
#endif
}

/// The broker URLs of a lookup answer, as the lookup parses them before connecting.
inline void broker_urls(const sluice::pulsar::base_command& command) {
    const auto* lookup = std::get_if<sluice::pulsar::proto::lookup_response>(&command);
    if (!lookup) return;
    for (const auto& url : {lookup->broker_service_url, lookup->broker_service_url_tls}) {
        if (!url) continue;
        try {
            const auto a = sluice::pulsar::service_address::parse(*url);
            SLUICE_FUZZ_CHECK(!a.host.empty() && a.port != 0, show(*url));
        } catch (const std::invalid_argument&) {
        }
    }
}

/// Decompresses and splits a message as a consumer would.
inline void consume_message(const sluice::pulsar::frame& f) {
    using namespace sluice::pulsar;
    broker_urls(f.command);
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
            for (const auto& e : entries) {
                SLUICE_FUZZ_CHECK(e.payload.data() >= body.data() &&
                                      e.payload.data() + e.payload.size() <= body.data() + body.size(),
                                  "a batch entry outside its batch");
                deserialize(e.payload);
            }
        } catch (const protocol_error&) {
        }
    } else {
        deserialize(body);
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
