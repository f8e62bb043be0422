// S3: the s3_client calls and the object engine's S3 destination against the loopback fixture of
// tests/support/s3_fixture.hpp (PutObject, multipart with parts in flight, checksums, retries, a
// resume with ListParts, abandoned uploads aborted). The same paths against s3rver are in
// test_objects_s3rver.cpp (integration).

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL

#include <sluice/aws/s3.hpp>
#include <sluice/objects/engine.hpp>
#include <sluice/objects/s3_bucket.hpp>

#include "support/decompress.hpp"
#include "support/objects.hpp"
#include "support/s3_fixture.hpp"

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_objects_s3 {

using namespace sluice;
using namespace sluice::objects;
using namespace std::chrono_literals;
using sluice_test::scratch;
using sluice_test::s3_fixture;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<aws::credentials_provider> test_credentials() {
    aws::aws_credentials c;
    c.access_key_id = "AKIDEXAMPLE123456";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    return std::make_shared<aws::static_credentials_provider>(c);
}

aws::s3_client_options client_options(const s3_fixture& fx) {
    aws::s3_client_options o;
    o.bucket = fx.bucket();
    o.region = "us-east-1";
    o.endpoint = fx.endpoint();
    o.path_style = true;
    return o;
}

s3_bucket_options bucket_options(const scratch& dir) {
    s3_bucket_options o;
    o.part_bytes = 5u << 20;
    o.state_directory = dir / "uploads";
    o.retry = {.max_attempts = 5, .initial_backoff = 1ms, .max_backoff = 5ms, .max_elapsed = 10'000ms};
    return o;
}

/// An engine writing to the fixture, with its loop and HTTP client; `body` runs between start and stop.
template <class Body>
void run_s3(const scratch& dir, s3_fixture& fx, object_engine_options o, Body body, s3_bucket_options b = {}) {
    io_loop loop;
    if (b.state_directory.empty()) b = bucket_options(dir);
    auto main = [&]() -> task<void> {
        http::client http(loop);
        aws::s3_client client(http, test_credentials(), client_options(fx));
        s3_bucket bucket(loop, client, b);
        object_engine engine(loop, bucket, o);
        co_await engine.start();
        co_await body(engine, bucket);
        co_await engine.stop(10s);
    };
    loop.run_until_complete(main());
    loop.drain();
}

/// `n` records of about `size` bytes each, with ids from `first`.
std::vector<std::string> sized_records(int first, int n, std::size_t size) {
    std::vector<std::string> out;
    for (int i = first; i < first + n; ++i) {
        std::string r = "{\"id\":" + std::to_string(i) + ",\"pad\":\"";
        r.append(size > r.size() + 2 ? size - r.size() - 2 : 0, static_cast<char>('a' + i % 26));
        r += "\"}";
        out.push_back(std::move(r));
    }
    return out;
}

io_loop& engine_loop(object_engine&) { return *io_loop::current(); }

std::string ndjson_of(const std::vector<std::string>& records) {
    std::string out;
    for (const auto& r : records) out += r + "\n";
    return out;
}

} // namespace

TEST_SUITE("objects-s3") {

TEST_CASE("s3_client: PutObject and GetObject round-trip a key that needs encoding, with its headers") {
    s3_fixture fx;
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        aws::s3_client client(http, test_credentials(), client_options(fx));
        const std::string key = "a b/ü+=&?x.ndjson";
        const std::string body = "{\"x\":1}\n";
        aws::s3_object_headers h{"application/x-ndjson", "gzip"};
        auto put = co_await client.put_object(key, body, h);
        CHECK(put.ok());
        auto got = co_await client.get_object(key);
        REQUIRE(got.ok());
        CHECK(*got.value == body);
        auto missing = co_await client.get_object("nope");
        CHECK_FALSE(missing.ok());
        CHECK(missing.is("NoSuchKey"));
        CHECK(missing.failure.message.find("NoSuchKey") != std::string::npos);
        CHECK(missing.to_outcome().kind == outcome_kind::reject);
    };
    loop.run_until_complete(main());
    loop.drain();
    const auto o = fx.object("a b/ü+=&?x.ndjson");
    REQUIRE(o);
    CHECK(o->content_type == "application/x-ndjson");
    CHECK(o->content_encoding == "gzip");
}

TEST_CASE("s3_client: multipart calls, ListParts across pages, abort, and errors S3 puts in a 200") {
    s3_fixture fx;
    fx.set_list_page(2);
    fx.set_min_part_bytes(1);
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        aws::s3_client client(http, test_credentials(), client_options(fx));
        auto id = co_await client.create_multipart_upload("k", {"text/csv", ""});
        REQUIRE(id.ok());
        std::vector<aws::s3_part> parts;
        for (std::uint32_t n = 1; n <= 5; ++n) {
            const std::string body(100 * n, static_cast<char>('0' + n));
            auto p = co_await client.upload_part("k", *id.value, n, body);
            REQUIRE(p.ok());
            CHECK(p.value->etag.size() == 34); // "md5"
            CHECK(p.value->checksum_crc32c == aws::s3_checksum_crc32c(body));
            parts.push_back(*p.value);
        }
        auto listed = co_await client.list_parts("k", *id.value);
        REQUIRE(listed.ok());
        REQUIRE(listed.value->size() == 5);
        for (std::size_t i = 0; i < 5; ++i) {
            CHECK((*listed.value)[i].number == i + 1);
            CHECK((*listed.value)[i].size == 100 * (i + 1));
            CHECK((*listed.value)[i].etag == parts[i].etag);
            CHECK((*listed.value)[i].checksum_crc32c == parts[i].checksum_crc32c);
        }
        fx.fail_in_body("CompleteMultipartUpload", "InternalError");
        auto failed = co_await client.complete_multipart_upload("k", *id.value, parts);
        CHECK_FALSE(failed.ok());
        CHECK(failed.is("InternalError"));
        CHECK(failed.to_outcome().kind == outcome_kind::retry);
        auto done = co_await client.complete_multipart_upload("k", *id.value, parts);
        CHECK(done.ok());
        auto gone = co_await client.list_parts("k", *id.value);
        CHECK(gone.is("NoSuchUpload"));
        auto other = co_await client.create_multipart_upload("other", {});
        REQUIRE(other.ok());
        CHECK((co_await client.abort_multipart_upload("other", *other.value)).ok());
        CHECK((co_await client.abort_multipart_upload("other", *other.value)).is("NoSuchUpload"));
    };
    loop.run_until_complete(main());
    loop.drain();
    const auto o = fx.object("k");
    REQUIRE(o);
    std::string expected;
    for (int n = 1; n <= 5; ++n) expected += std::string(static_cast<std::size_t>(100 * n), static_cast<char>('0' + n));
    CHECK(o->body == expected);
    CHECK(fx.uploads_in_progress() == 0);
    CHECK(fx.count("ListParts") == 4); // 3 pages, then NoSuchUpload
}

TEST_CASE("ListObjectsV2 pages parse to keys, sizes and ETags; a page that is not one is refused") {
    using aws::detail::s3::parse_list_objects;
    const std::string page = "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                             "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
                             "<Contents><Key>p/a &amp; b.ndjson</Key><Size>12</Size><ETag>&quot;abc-3&quot;</ETag></Contents>"
                             "<Contents><Key>p/empty</Key><Size>0</Size><ETag>&quot;d41d&quot;</ETag></Contents>"
                             "<NextContinuationToken>tok/en==</NextContinuationToken></ListBucketResult>";
    const auto parsed = parse_list_objects(page);
    REQUIRE(parsed);
    REQUIRE(parsed->objects.size() == 2);
    CHECK(parsed->objects[0].key == "p/a & b.ndjson");
    CHECK(parsed->objects[0].size == 12);
    CHECK(parsed->objects[0].etag == "\"abc-3\"");
    CHECK(parsed->objects[1].size == 0);
    CHECK(parsed->next_token == "tok/en==");
    const auto last = parse_list_objects("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
    REQUIRE(last);
    CHECK(last->objects.empty());
    CHECK(last->next_token.empty());
    CHECK_FALSE(parse_list_objects("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")); // no token
    CHECK_FALSE(parse_list_objects("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>")); // no size
    CHECK_FALSE(parse_list_objects("<Error><Code>AccessDenied</Code></Error>"));
}

TEST_CASE("small objects go with one PutObject, large ones as multipart uploads, byte for byte") {
    scratch dir;
    s3_fixture fx;
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.partition_by = {"kind"};
    o.layout.keep_partition_columns = true;
    o.layout.key_template = "events/{partitions}{seq}{ext}";
    const auto small = sized_records(0, 50, 200);
    auto large = sized_records(1000, 12'000, 1000); // ~12 MiB: three parts of 5 MiB
    for (auto& r : large) r.insert(1, "\"kind\":\"large\",");
    std::vector<std::string> small_tagged;
    for (auto r : small) small_tagged.push_back(r.insert(1, "\"kind\":\"small\","));
    run_s3(dir, fx, o, [&](object_engine& engine, s3_bucket&) -> task<void> {
        for (const auto& r : small_tagged) co_await engine.submit(r);
        for (const auto& r : large) co_await engine.submit(r);
        co_await engine.flush();
        CHECK(engine.stats().objects_written == 2);
        CHECK(engine.stats().written == small.size() + large.size());
    });
    CHECK(fx.count("PutObject") == 1);
    CHECK(fx.count("CreateMultipartUpload") == 1);
    CHECK(fx.count("UploadPart") == 3);
    CHECK(fx.count("CompleteMultipartUpload") == 1);
    CHECK(fx.uploads_in_progress() == 0);
    const auto small_object = fx.object("events/kind=small/0000000000.ndjson");
    const auto large_object = fx.object("events/kind=large/0000000001.ndjson");
    REQUIRE(small_object);
    REQUIRE(large_object);
    CHECK(small_object->body == ndjson_of(small_tagged));
    CHECK(large_object->body == ndjson_of(large));
    CHECK(small_object->content_type == "application/x-ndjson");
    CHECK(large_object->content_type == "application/x-ndjson");
    CHECK(fs::is_empty(dir / "uploads")); // no upload state left behind
}

TEST_CASE("compressed objects carry their Content-Encoding and decompress to the records") {
    scratch dir;
    s3_fixture fx;
    auto o = sluice_test::local_engine_options(dir.path);
    formats::ndjson_options nd;
    nd.codec = compression::gzip;
    o.format = nd;
    o.layout.key_template = "{seq}{ext}";
    const auto records = sized_records(0, 9000, 1000); // compresses well below one part: PutObject
    run_s3(dir, fx, o, [&](object_engine& engine, s3_bucket&) -> task<void> {
        for (const auto& r : records) co_await engine.submit(r);
        co_await engine.flush();
    });
    const auto object = fx.object("0000000000.ndjson.gz");
    REQUIRE(object);
    CHECK(object->content_encoding == "gzip");
    CHECK(object->content_type == "application/x-ndjson");
    CHECK(sluice_test::decompress_object(compression::gzip, object->body) == ndjson_of(records));
}

TEST_CASE("throttled and failing requests are tried again; the objects still complete") {
    scratch dir;
    s3_fixture fx;
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.key_template = "{seq}{ext}";
    fx.fail("UploadPart", 503, "SlowDown", 3);
    fx.fail("CreateMultipartUpload", 500, "InternalError", 1);
    fx.fail("CompleteMultipartUpload", 503, "ServiceUnavailable", 2);
    const auto records = sized_records(0, 11'000, 1000);
    run_s3(dir, fx, o, [&](object_engine& engine, s3_bucket&) -> task<void> {
        for (const auto& r : records) co_await engine.submit(r);
        co_await engine.flush();
        CHECK(engine.stats().objects_written == 1);
    });
    const auto object = fx.object("0000000000.ndjson");
    REQUIRE(object);
    CHECK(object->body == ndjson_of(records));
    CHECK(fx.count("UploadPart") == 3 + 3);
    CHECK(fx.count("CompleteMultipartUpload") == 3);
}

TEST_CASE("a refused upload fails its records with the service's error; a restart resumes the upload with ListParts") {
    scratch dir;
    s3_fixture fx;
    fx.set_list_page(1); // the resume reads every page
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.key_template = "{seq}{ext}";
    const auto extra = sized_records(99'999, 1, 1000).front();
    const auto records = sized_records(0, 16'000, 1000); // ~16 MiB: 4 parts
    std::size_t first_parts = 0;
    {
        s3_bucket_options b = bucket_options(dir);
        b.parts_in_flight = 1;
        std::string error;
        run_s3(
            dir, fx, o,
            [&](object_engine& engine, s3_bucket&) -> task<void> {
                async_scope waiting;
                auto deliver_extra = [&]() -> task<void> {
                    try {
                        co_await engine.deliver(extra);
                    } catch (const delivery_error& e) {
                        error = e.what();
                        CHECK(e.kind() == outcome_kind::reject);
                        CHECK(e.service_code() == "AccessDenied");
                    }
                };
                waiting.spawn(deliver_extra());
                for (std::size_t i = 0; i < records.size(); ++i) {
                    if (i == 11'000) { // two parts went: refuse the next ones for good
                        while (fx.uploaded_parts().size() < 2) co_await engine_loop(engine).sleep_for(1ms);
                        fx.fail("UploadPart", 403, "AccessDenied", 1'000'000);
                    }
                    co_await engine.submit(records[i]);
                }
                co_await engine.flush();
                co_await waiting.join();
            },
            b);
        CHECK(error.find("AccessDenied") != std::string::npos);
        first_parts = fx.uploaded_parts().size();
        CHECK(first_parts == 2);
        CHECK(fx.uploads_in_progress() == 1);
        CHECK_FALSE(fs::is_empty(dir / "uploads"));
    }
    fx.fail("UploadPart", 403, "AccessDenied", 0);
    run_s3(dir, fx, o, [&](object_engine& engine, s3_bucket& bucket) -> task<void> {
        CHECK(engine.stats().replayed_records == records.size() + 1);
        co_await engine.flush();
        CHECK(engine.stats().objects_written == 1);
        CHECK(bucket.reused_parts() == first_parts);
    });
    const auto parts = fx.uploaded_parts();
    REQUIRE(parts.size() >= first_parts);
    for (std::size_t i = first_parts; i < parts.size(); ++i) CHECK(parts[i] > first_parts); // reused, not sent again
    CHECK(fx.count("ListParts") == first_parts); // a page of one part each, the last one not truncated
    const auto object = fx.object("0000000000.ndjson");
    REQUIRE(object);
    std::vector<std::string> expected{extra};
    expected.insert(expected.end(), records.begin(), records.end());
    CHECK(object->body == ndjson_of(expected));
    CHECK(fx.uploads_in_progress() == 0);
    CHECK(fs::is_empty(dir / "uploads"));
}

TEST_CASE("an upload nothing claims after a restart is aborted") {
    scratch dir;
    s3_fixture fx;
    const std::string id = fx.start_upload("orphan.ndjson");
    fs::create_directories(dir / "uploads");
    upload_state s;
    s.sequence = 77;
    s.part_bytes = 5u << 20;
    s.bucket = fx.bucket();
    s.key = "orphan.ndjson";
    s.upload_id = id;
    {
        std::ofstream f(dir / "uploads" / "00000000000000000077.upload");
        f << encode_upload_header(s);
    }
    { std::ofstream junk(dir / "uploads" / "00000000000000000078.upload"); junk << "not a state\n"; }
    auto o = sluice_test::local_engine_options(dir.path);
    run_s3(dir, fx, o, [&](object_engine&, s3_bucket& bucket) -> task<void> {
        CHECK(bucket.aborted_uploads() == 1);
        co_return;
    });
    CHECK(fx.uploads_in_progress() == 0);
    CHECK(fx.count("AbortMultipartUpload") == 1);
    CHECK_FALSE(fs::exists(dir / "uploads" / "00000000000000000077.upload"));
    CHECK(fs::exists(dir / "uploads" / "00000000000000000078.upload.corrupt"));
}

TEST_CASE("upload states: what is written parses back; damage is refused or skipped, never trusted") {
    upload_state s;
    s.sequence = 12;
    s.part_bytes = 8u << 20;
    s.bucket = "b";
    s.key = "dir/a b\nc.ndjson";
    s.upload_id = "id with spaces";
    std::string text = encode_upload_header(s);
    text += encode_upload_part(1, {8u << 20, "abc=", "\"etag1\""});
    text += encode_upload_part(2, {100, "", ""});
    const auto back = parse_upload_state(text);
    REQUIRE(back);
    CHECK(back->sequence == 12);
    CHECK(back->key == s.key);
    CHECK(back->upload_id == s.upload_id);
    REQUIRE(back->parts.size() == 2);
    CHECK(back->parts.at(1).etag == "\"etag1\"");
    CHECK(back->parts.at(1).checksum == "abc=");
    CHECK(back->parts.at(2).size == 100);
    // A torn last line is skipped; a flipped byte in a part line too; in the header, the whole file.
    auto torn = parse_upload_state(text.substr(0, text.size() - 5));
    REQUIRE(torn);
    CHECK(torn->parts.size() == 1);
    std::string flipped = text;
    flipped[flipped.find("part 1") + 7] ^= 1;
    auto damaged = parse_upload_state(flipped);
    REQUIRE(damaged);
    CHECK(damaged->parts.size() == 1);
    CHECK(damaged->skipped_lines == 1);
    std::string bad_header = text;
    bad_header[3] ^= 1;
    CHECK_FALSE(parse_upload_state(bad_header));
    CHECK_FALSE(parse_upload_state(""));
    CHECK_FALSE(parse_upload_state("sluice-s3-upload 1"));
}

} // TEST_SUITE("objects-s3")

} // namespace test_objects_s3

#endif
