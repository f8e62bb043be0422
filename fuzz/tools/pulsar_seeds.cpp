// Writes the seed corpus of the pulsar_frame fuzz target: streams of real frames made by the client's
// own encoders (CONNECTED, PING, PRODUCER_SUCCESS, SEND_RECEIPT, LOOKUP_RESPONSE, MESSAGE with a text and a JSON payload, a batch,
// a batch compressed with every codec this build has, a checksum that does not match), each led by the
// byte that chooses the read size (see fuzz/targets/pulsar_frame.hpp). Run from the repository root:
//   g++ -std=c++20 -Iinclude -DSLUICE_HAS_LZ4=1 -DSLUICE_HAS_ZSTD=1 -DSLUICE_HAS_ZLIB=1 -DSLUICE_HAS_SNAPPY=1 \
//     fuzz/tools/pulsar_seeds.cpp -llz4 -lzstd -lz -lsnappy && ./a.out fuzz/corpus/pulsar_frame

#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/frames.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace sluice::pulsar;

namespace {

void write(const fs::path& dir, const std::string& name, char read_size, const std::string& stream) {
    std::ofstream(dir / name, std::ios::binary) << read_size << stream;
}

std::string message_frame(const proto::message_metadata& m, std::string_view payload) {
    proto::message cmd;
    cmd.consumer_id = 7;
    cmd.message_id.ledger_id = 12;
    cmd.message_id.entry_id = 3;
    std::string out;
    append_payload_frame(out, cmd, m, payload);
    return out;
}

std::string batch_of(int n) {
    std::string batch;
    for (int i = 0; i < n; ++i) {
        proto::single_message_metadata s;
        s.partition_key = "key-" + std::to_string(i);
        s.sequence_id = static_cast<std::uint64_t>(i);
        append_batch_entry(batch, s, "{\"n\":" + std::to_string(i) + "}");
    }
    return batch;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const fs::path dir = argv[1];
    fs::create_directories(dir);

    std::string control;
    proto::connected c;
    c.server_version = "Pulsar Server 3.1";
    c.protocol_version = 21;
    c.max_message_size = 5 * 1024 * 1024;
    append_simple_frame(control, c);
    append_simple_frame(control, proto::ping{});
    proto::producer_success ps;
    ps.request_id = 1;
    ps.producer_name = "standalone-0-1";
    ps.last_sequence_id = -1;
    append_simple_frame(control, ps);
    proto::send_receipt r;
    r.producer_id = 1;
    r.sequence_id = 5;
    r.message_id = proto::message_id_data{12, 3, {}, {}, {}, {}};
    append_simple_frame(control, r);
    write(dir, "control-frames", 5, control);

    std::string lookups;
    proto::lookup_response l;
    l.request_id = 2;
    l.response = lookup_type::connect;
    l.broker_service_url = "pulsar://broker-1.example:6650";
    l.broker_service_url_tls = "pulsar+ssl://[::1]:6651/x";
    append_simple_frame(lookups, l);
    l.response = lookup_type::redirect;
    l.broker_service_url = "pulsar://a,b:1";
    l.broker_service_url_tls = "http://not-pulsar";
    append_simple_frame(lookups, l);
    write(dir, "lookup-responses", 64, lookups);

    proto::message_metadata m;
    m.producer_name = "p";
    m.sequence_id = 1;
    m.publish_time = 1700000000000;
    m.partition_key = "k";
    write(dir, "message-plain", 63, message_frame(m, "hello"));
    write(dir, "message-json", 2, message_frame(m, "{\"a\":[1,2.5e3,-0.0,\"caf\u00e9\"],\"b\":{\"c\":null,\"d\":true}}"));

    const std::string batch = batch_of(3);
    proto::message_metadata mb = m;
    mb.num_messages_in_batch = 3;
    write(dir, "message-batch", 17, message_frame(mb, batch));

    payload_codec codec;
    for (const auto [type, name] : {std::pair{compression_type::lz4, "lz4"}, std::pair{compression_type::zlib, "zlib"},
                                    std::pair{compression_type::zstd, "zstd"}, std::pair{compression_type::snappy, "snappy"}}) {
        std::string packed;
        try {
            codec.compress(type, batch, packed);
        } catch (const std::exception&) {
            continue; // not in this build
        }
        proto::message_metadata mc = mb;
        mc.compression = type;
        mc.uncompressed_size = static_cast<std::uint32_t>(batch.size());
        write(dir, std::string("message-batch-") + name, 9, message_frame(mc, packed));
    }

    std::string bad = message_frame(m, "payload");
    bad.back() ^= 1; // the CRC32C no longer matches
    write(dir, "message-bad-checksum", 0, bad);
    return 0;
}
