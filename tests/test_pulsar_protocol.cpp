// Pulsar's wire format: protobuf primitives against hand-computed bytes, every command round-tripped,
// malformed input refused with a protocol_error, frames (simple and with payload, CRC32C, broker
// entry metadata, fed a byte at a time, size limits), batches and the four compression codecs
// (through codec/compression.hpp's libraries and zlib).

#include <doctest/doctest.h>

#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/frames.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_pulsar_protocol {

using namespace sluice::pulsar;
using sluice::pulsar::detail::pb_reader;
using sluice::pulsar::detail::pb_writer;

namespace {

std::string bytes(std::initializer_list<int> v) {
    std::string s;
    for (int b : v) s.push_back(static_cast<char>(b));
    return s;
}

template <class C>
std::string command_bytes(const C& c) {
    std::string out;
    encode_base_command(out, c);
    return out;
}

template <class C>
C round_trip(const C& c) {
    auto decoded = decode_base_command(command_bytes(c));
    REQUIRE(std::holds_alternative<C>(decoded));
    return std::get<C>(decoded);
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

} // namespace

TEST_SUITE("pulsar-protocol") {

TEST_CASE("varints, zigzag and field tags match the protobuf encoding rules") {
    using namespace sluice::pulsar::detail;
    std::string out;
    pb_writer w(out);
    w.varint(0);
    w.varint(1);
    w.varint(127);
    w.varint(128);
    w.varint(300);
    w.varint(~std::uint64_t{0});
    CHECK(out == bytes({0x00, 0x01, 0x7f, 0x80, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
    pb_reader r(out, "test");
    for (std::uint64_t v : std::vector<std::uint64_t>{0, 1, 127, 128, 300, ~std::uint64_t{0}}) CHECK(r.varint() == v);
    CHECK(r.done());
    CHECK(varint_size(0) == 1);
    CHECK(varint_size(127) == 1);
    CHECK(varint_size(128) == 2);
    CHECK(varint_size(~std::uint64_t{0}) == 10);
    // zigzag: 0, -1, 1, -2 -> 0, 1, 2, 3 (sint fields; none in PulsarApi.proto, kept for completeness)
    CHECK(zigzag_encode(0) == 0);
    CHECK(zigzag_encode(-1) == 1);
    CHECK(zigzag_encode(1) == 2);
    CHECK(zigzag_encode(-2) == 3);
    CHECK(zigzag_encode(INT64_MIN) == ~std::uint64_t{0});
    for (std::int64_t v : std::vector<std::int64_t>{0, -1, 1, -300, INT64_MAX, INT64_MIN}) CHECK(zigzag_decode(zigzag_encode(v)) == v);
}

TEST_CASE("a FLOW command is the bytes the .proto prescribes") {
    proto::flow f;
    f.consumer_id = 1;
    f.message_permits = 1000;
    // BaseCommand{type(1)=11, flow(11)={consumer_id(1)=1, messagePermits(2)=1000}}
    CHECK(command_bytes(f) == bytes({0x08, 0x0b, 0x5a, 0x05, 0x08, 0x01, 0x10, 0xe8, 0x07}));
    std::string frame;
    append_simple_frame(frame, f);
    CHECK(frame == bytes({0, 0, 0, 13, 0, 0, 0, 9, 0x08, 0x0b, 0x5a, 0x05, 0x08, 0x01, 0x10, 0xe8, 0x07}));
}

TEST_CASE("negative int32 fields are ten-byte two's-complement varints") {
    proto::message_id_data id;
    id.ledger_id = 5;
    id.entry_id = 6;
    id.partition = -1;
    std::string out;
    encode_protobuf(out, id);
    CHECK(out == bytes({0x08, 0x05, 0x10, 0x06, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
    auto back = decode_protobuf<proto::message_id_data>(out, "MessageIdData");
    CHECK(back.partition == -1);
    CHECK(!back.batch_index.has_value());
}

TEST_CASE("nested messages longer than 127 bytes get their length widened in place") {
    for (std::size_t n : {0u, 1u, 120u, 125u, 126u, 127u, 128u, 16383u, 16384u, 70000u}) {
        proto::producer_success p;
        p.request_id = 9;
        p.producer_name = std::string(n, 'x');
        auto back = round_trip(p);
        CHECK(back.producer_name.size() == n);
        CHECK(back.request_id == 9);
    }
}

TEST_CASE("every command sluice uses survives a round trip with all its fields") {
    proto::connect c;
    c.client_version = "sluice";
    c.protocol_version = protocol_version;
    c.auth_method_name = "token";
    c.auth_data = "secret";
    c.flags.emplace().supports_auth_refresh = true;
    auto c2 = round_trip(c);
    CHECK(c2.client_version == "sluice");
    CHECK(c2.protocol_version == 21);
    CHECK(c2.auth_method_name == "token");
    CHECK(c2.auth_data == "secret");
    CHECK(c2.flags->supports_auth_refresh == true);

    proto::subscribe s;
    s.topic = "persistent://public/default/t";
    s.subscription = "sub";
    s.sub_type = subscription_type::key_shared;
    s.consumer_id = 7;
    s.request_id = 8;
    s.initial = initial_position::earliest;
    s.key_shared.emplace().mode = key_shared_mode::sticky;
    s.key_shared->hash_ranges.push_back({0, 32767});
    auto s2 = round_trip(s);
    CHECK(s2.topic == s.topic);
    CHECK(s2.sub_type == subscription_type::key_shared);
    CHECK(s2.initial == initial_position::earliest);
    CHECK(s2.key_shared->hash_ranges.at(0).end == 32767);

    proto::send_receipt sr;
    sr.producer_id = 1;
    sr.sequence_id = 1ull << 40;
    sr.message_id.emplace();
    sr.message_id->ledger_id = 10;
    sr.message_id->entry_id = 20;
    auto sr2 = round_trip(sr);
    CHECK(sr2.sequence_id == 1ull << 40);
    CHECK(sr2.message_id->entry_id == 20);

    proto::ack a;
    a.consumer_id = 3;
    a.kind = ack_type::cumulative;
    for (int i = 0; i < 3; ++i) {
        proto::message_id_data id;
        id.ledger_id = 1;
        id.entry_id = static_cast<std::uint64_t>(i);
        id.batch_index = i;
        a.message_ids.push_back(id);
    }
    auto a2 = round_trip(a);
    REQUIRE(a2.message_ids.size() == 3);
    CHECK(a2.message_ids[2].batch_index == 2);
    CHECK(a2.kind == ack_type::cumulative);

    proto::send_error se;
    se.producer_id = 2;
    se.sequence_id = 3;
    se.error = server_error::checksum_error;
    se.message = "bad";
    CHECK(round_trip(se).error == server_error::checksum_error);

    proto::lookup_response lr;
    lr.request_id = 4;
    lr.response = lookup_type::redirect;
    lr.broker_service_url = "pulsar://127.0.0.1:6651";
    lr.authoritative = true;
    auto lr2 = round_trip(lr);
    CHECK(lr2.response == lookup_type::redirect);
    CHECK(lr2.broker_service_url == "pulsar://127.0.0.1:6651");

    CHECK(std::holds_alternative<proto::ping>(decode_base_command(command_bytes(proto::ping{}))));
    CHECK(type_of(decode_base_command(command_bytes(proto::pong{}))) == 19);
}

TEST_CASE("MessageMetadata and SingleMessageMetadata keep every field sluice sets") {
    proto::message_metadata m;
    m.producer_name = "p";
    m.sequence_id = 42;
    m.publish_time = 1700000000000;
    m.properties.push_back({"k", "v"});
    m.partition_key = "key";
    m.ordering_key = std::string("\0\1", 2);
    m.compression = compression_type::zstd;
    m.uncompressed_size = 1234;
    m.num_messages_in_batch = 10;
    m.event_time = 99;
    std::string out;
    encode_protobuf(out, m);
    auto back = decode_protobuf<proto::message_metadata>(out, "MessageMetadata");
    CHECK(back.producer_name == "p");
    CHECK(back.sequence_id == 42);
    CHECK(back.properties == m.properties);
    CHECK(back.ordering_key == m.ordering_key);
    CHECK(back.compression == compression_type::zstd);
    CHECK(back.num_messages_in_batch == 10);
    CHECK(back.event_time == 99);
    CHECK(!back.replicated_from.has_value());
}

TEST_CASE("malformed protobuf is refused with a protocol_error") {
    // truncated varint, length past the end, bad wire type, missing type, missing required field
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x08})), protocol_error);
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x08, 0x0b, 0x5a, 0x09, 0x08})), protocol_error);
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x0b, 0x0b})), protocol_error);
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x5a, 0x00})), protocol_error);
    CHECK_THROWS_WITH_AS((void)decode_base_command(bytes({0x08, 0x0b, 0x5a, 0x02, 0x08, 0x01})),
                         doctest::Contains("required field 2"), protocol_error);
    // a varint where a message belongs
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x08, 0x07, 0x38, 0x01})), protocol_error);
    // an eleven-byte varint
    CHECK_THROWS_AS((void)decode_base_command(bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})),
                    protocol_error);
}

TEST_CASE("unknown fields and unknown commands are skipped, not errors") {
    // FLOW with an extra fixed64 field 9, fixed32 field 10 and bytes field 11
    auto in = bytes({0x08, 0x0b, 0x5a, 0x14, 0x08, 0x01, 0x10, 0x02, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1, 2, 3, 4, 0x5a, 0x00});
    auto c = decode_base_command(in);
    REQUIRE(std::holds_alternative<proto::flow>(c));
    CHECK(std::get<proto::flow>(c).message_permits == 2);
    auto u = decode_base_command(bytes({0x08, 0x40, 0x82, 0x04, 0x00}));
    REQUIRE(std::holds_alternative<proto::unknown_command>(u));
    CHECK(type_of(u) == 64);
    // packed repeated int64 (ack_set) reads like the unpacked form
    auto id = decode_protobuf<proto::message_id_data>(bytes({0x08, 1, 0x10, 2, 0x2a, 0x02, 0x05, 0x06, 0x28, 0x07}), "id");
    CHECK(id.ack_set == std::vector<std::int64_t>{5, 6, 7});
}

TEST_CASE("payload frames carry the magic, a CRC32C over metadata and payload, and decode back") {
    proto::send s;
    s.producer_id = 1;
    s.sequence_id = 2;
    proto::message_metadata m;
    m.producer_name = "prod";
    m.sequence_id = 2;
    m.publish_time = 3;
    std::string frame;
    append_payload_frame(frame, s, m, "hello");
    const std::uint32_t total = sluice::pulsar::detail::get_u32(frame.data());
    CHECK(total == frame.size() - 4);
    const std::uint32_t cmd = sluice::pulsar::detail::get_u32(frame.data() + 4);
    CHECK(sluice::pulsar::detail::get_u16(frame.data() + 8 + cmd) == 0x0e01);
    const std::uint32_t crc = sluice::pulsar::detail::get_u32(frame.data() + 10 + cmd);
    CHECK(crc == sluice::crc32c(frame.data() + 14 + cmd, frame.size() - 14 - cmd));
    CHECK(frame.ends_with("hello"));

    frame_decoder d;
    d.feed(frame);
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->has_payload);
    CHECK(f->checksum_ok);
    CHECK(f->payload == "hello");
    CHECK(f->metadata.producer_name == "prod");
    CHECK(std::get<proto::send>(f->command).sequence_id == 2);
    CHECK(!d.next());

    // One flipped payload bit: the frame still decodes, flagged as corrupt.
    frame.back() ^= 1;
    d.feed(frame);
    auto bad = d.next();
    REQUIRE(bad);
    CHECK(!bad->checksum_ok);
}

TEST_CASE("the decoder reassembles frames fed a byte at a time and enforces its size limit") {
    std::string stream;
    for (std::uint32_t i = 0; i < 50; ++i) {
        proto::flow f;
        f.consumer_id = i;
        f.message_permits = i * 7;
        append_simple_frame(stream, f);
        proto::message msg;
        msg.consumer_id = i;
        msg.message_id.ledger_id = i;
        proto::message_metadata m;
        m.producer_name = "x";
        append_payload_frame(stream, msg, m, std::string(i * 31, static_cast<char>('a' + i % 26)));
    }
    frame_decoder d;
    std::uint32_t flows = 0;
    std::uint32_t messages = 0;
    for (char c : stream) {
        d.feed(std::string_view(&c, 1));
        while (auto f = d.next()) {
            if (auto* fl = std::get_if<proto::flow>(&f->command)) {
                CHECK(fl->consumer_id == flows);
                CHECK(fl->message_permits == flows * 7);
                ++flows;
            } else {
                auto& msg = std::get<proto::message>(f->command);
                CHECK(msg.consumer_id == messages);
                CHECK(f->payload.size() == messages * 31);
                CHECK(f->checksum_ok);
                ++messages;
            }
        }
    }
    CHECK(flows == 50);
    CHECK(messages == 50);
    CHECK(d.buffered() == 0);

    frame_decoder small(100);
    small.feed(bytes({0, 0, 0, 101}));
    CHECK_THROWS_WITH_AS((void)small.next(), doctest::Contains("exceeds the limit"), protocol_error);
    frame_decoder tiny;
    tiny.feed(bytes({0, 0, 0, 2, 0, 0}));
    CHECK_THROWS_AS((void)tiny.next(), protocol_error);
    frame_decoder lying; // command size larger than its frame
    lying.feed(bytes({0, 0, 0, 6, 0, 0, 0, 9, 0x08, 0x12}));
    CHECK_THROWS_AS((void)lying.next(), protocol_error);
}

TEST_CASE("broker entry metadata before the message part is skipped") {
    proto::message msg;
    msg.consumer_id = 1;
    proto::message_metadata m;
    m.producer_name = "x";
    std::string plain;
    append_payload_frame(plain, msg, m, "body");
    const std::uint32_t cmd = sluice::pulsar::detail::get_u32(plain.data() + 4);
    std::string with = plain.substr(0, 8 + cmd) + bytes({0x0e, 0x02, 0, 0, 0, 2, 0x08, 0x05}) + plain.substr(8 + cmd);
    sluice::pulsar::detail::put_u32(with.data(), static_cast<std::uint32_t>(with.size() - 4));
    auto f = frame_decoder::parse(std::string_view(with).substr(4));
    CHECK(f.checksum_ok);
    CHECK(f.payload == "body");
}

TEST_CASE("batches: entries with their metadata split back exactly; damaged batches are refused") {
    std::string batch;
    for (int i = 0; i < 20; ++i) {
        proto::single_message_metadata smm;
        smm.partition_key = "k" + std::to_string(i);
        smm.sequence_id = static_cast<std::uint64_t>(i);
        if (i % 3 == 0) smm.properties.push_back({"i", std::to_string(i)});
        append_batch_entry(batch, smm, std::string(static_cast<std::size_t>(i), 'p'));
    }
    auto entries = read_batch(batch, 20);
    REQUIRE(entries.size() == 20);
    for (int i = 0; i < 20; ++i) {
        CHECK(entries[static_cast<std::size_t>(i)].payload.size() == static_cast<std::size_t>(i));
        CHECK(entries[static_cast<std::size_t>(i)].metadata.sequence_id == static_cast<std::uint64_t>(i));
        CHECK(entries[static_cast<std::size_t>(i)].metadata.partition_key == "k" + std::to_string(i));
    }
    CHECK_THROWS_AS((void)read_batch(batch, 21), protocol_error);
    CHECK_THROWS_AS((void)read_batch(batch, 19), protocol_error); // bytes left over
    CHECK_THROWS_AS((void)read_batch(batch.substr(0, batch.size() - 1), 20), protocol_error);
    CHECK_THROWS_AS((void)read_batch(batch, 1'000'000), protocol_error);
}

TEST_CASE("each Pulsar compression round-trips and refuses corrupt or mis-sized input") {
    payload_codec codec;
    std::string text;
    for (int i = 0; text.size() < 20000; ++i) text += R"({"id":)" + std::to_string(i) + R"(,"kind":"order"})";
    for (auto c : {compression_type::none, compression_type::lz4, compression_type::zlib, compression_type::zstd,
                   compression_type::snappy}) {
        CAPTURE(to_string(c));
        if (!compression_available(c)) {
            std::string z;
            CHECK_THROWS_AS(codec.compress(c, text, z), std::invalid_argument);
            continue;
        }
        std::string z;
        codec.compress(c, text, z);
        if (c != compression_type::none) CHECK(z.size() < text.size() / 3);
        std::string back;
        codec.decompress(c, z, text.size(), back);
        CHECK(back == text);
        const std::string noise = random_bytes(5000, 7); // incompressible: grows a little, still round-trips
        std::string zn;
        codec.compress(c, noise, zn);
        codec.decompress(c, zn, noise.size(), back);
        CHECK(back == noise);
        CHECK_THROWS((codec.decompress(c, z, text.size() + 1, back)));
        if (c != compression_type::none) {
            std::string broken = z.substr(0, z.size() / 2);
            CHECK_THROWS((codec.decompress(c, broken, text.size(), back)));
        }
    }
}

} // TEST_SUITE

} // namespace test_pulsar_protocol
