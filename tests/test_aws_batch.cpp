// The shared AWS batch layer on its own: the error classifier (service tables, AWS's common codes,
// SenderFault), safe error codes, limits overrides, and each response mapping (by id, by position,
// by index ranges, by unprocessed items, all or nothing), including responses that lie or break.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/aws/batch/errors.hpp>
#include <sluice/aws/batch/limits.hpp>
#include <sluice/aws/batch/response.hpp>

#include <string>
#include <string_view>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_batch {

using namespace sluice;
using namespace sluice::aws;

namespace {

constexpr error_rule test_rules[] = {
    {"ProvisionedThroughputExceededException", error_verdict::throttle},
    {"KMSAccessDeniedException", error_verdict::reject},
    {"WeirdButFine", error_verdict::retry},
};
const error_table test_table{test_rules, error_verdict::retry};

batch_result parse_with(batch_response_reader& reader, std::string_view body,
                        const std::function<batch_result(const simdjson::dom::object&)>& map) {
    simdjson::dom::object root;
    REQUIRE(reader.parse(body, root));
    return map(root);
}

} // namespace

TEST_SUITE("aws batch") {

TEST_CASE("aws batch: the classifier takes the service's table first, then AWS's codes, then SenderFault") {
    CHECK(entry_verdict(test_table, "ProvisionedThroughputExceededException") == error_verdict::throttle);
    CHECK(entry_verdict(test_table, "KMSAccessDeniedException", false) == error_verdict::reject); // table wins
    CHECK(entry_verdict(test_table, "ThrottlingException") == error_verdict::throttle);            // AWS common
    CHECK(entry_verdict(test_table, "InternalFailure", true) == error_verdict::retry);              // transient
    CHECK(entry_verdict(test_table, "InvalidParameterValue", true) == error_verdict::reject);
    CHECK(entry_verdict(test_table, "InvalidParameterValue", false) == error_verdict::retry);
    CHECK(entry_verdict(test_table, "SomethingNew") == error_verdict::retry);
    const error_table strict{{}, error_verdict::reject};
    CHECK(entry_verdict(strict, "SomethingNew") == error_verdict::reject);

    const outcome o = classify_entry(test_table, "ProvisionedThroughputExceededException", "Rate exceeded for shard 1",
                                     std::nullopt, "req-7");
    CHECK(o.kind == outcome_kind::throttled);
    CHECK(o.service_code == "ProvisionedThroughputExceededException");
    CHECK(o.request_id == "req-7");
    CHECK(o.message == "ProvisionedThroughputExceededException: Rate exceeded for shard 1");
}

TEST_CASE("aws batch: error codes from a response are reduced to safe characters before they reach a log") {
    CHECK(detail::aws_batch::safe_code("com.amazonaws.kinesis#InternalFailure:http://internal") == "InternalFailure");
    CHECK(detail::aws_batch::safe_code("Bad\r\nInjected: line") == "BadInjected");
    CHECK(detail::aws_batch::safe_code(std::string(500, 'A')).size() == 128);
    // Generated: whatever bytes come in, what comes out holds only [A-Za-z0-9._-].
    std::uint64_t state = 12345;
    for (int round = 0; round < 2000; ++round) {
        std::string code;
        for (int k = 0; k < 40; ++k) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            code += static_cast<char>(state >> 56);
        }
        const outcome o = classify_entry(test_table, code, "m");
        for (char c : o.service_code) {
            const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                            c == '_' || c == '-';
            REQUIRE(ok);
        }
        REQUIRE(o.message.find('\n') == std::string::npos);
        REQUIRE(o.message.find('\r') == std::string::npos);
    }
}

TEST_CASE("aws batch: limits are overridable field by field and weigh records with their overhead") {
    const batch_limits logs{10'000, 1'048'576, 1'048'550, 26, size_basis::raw};
    batch_limits o = no_overrides;
    o.max_request_bytes = 500'000;
    const batch_limits l = logs.overridden_by(o);
    CHECK(l.max_entries == 10'000);
    CHECK(l.max_request_bytes == 500'000);
    CHECK(l.entry_overhead == 26);
    CHECK(l.weight(100) == 126);
    const sink_limits s = l.to_sink_limits(4096);
    CHECK(s.max_batch_entries == 10'000);
    CHECK(s.max_batch_bytes == 500'000);
    CHECK(s.max_record_bytes == 4096);
}

TEST_CASE("aws batch: by id maps Successful and Failed lists back to the batch, whatever their order") {
    batch_response_reader reader;
    const std::vector<std::string_view> ids = {"0", "1", "2", "3", "4"};
    const auto r = parse_with(reader,
                              R"({"Failed":[{"Id":"3","SenderFault":true,"Code":"InvalidParameterValue","Message":"bad"},
                                            {"Id":"1","SenderFault":false,"Code":"InternalError","Message":"oops"}],
                                  "Successful":[{"Id":"4"},{"Id":"0"},{"Id":"9"},{"Id":"0"}]})",
                              [&](const simdjson::dom::object& root) { return reader.by_id(root, ids, test_table); });
    REQUIRE(r.entries.size() == 5);
    CHECK(r.entries[0].is_ok());
    CHECK(r.entries[1].kind == outcome_kind::retry);
    CHECK(r.entries[2].kind == outcome_kind::retry); // in neither list: never assumed delivered
    CHECK(r.entries[2].message == "no result for entry");
    CHECK(r.entries[3].kind == outcome_kind::reject);
    CHECK(r.entries[3].service_code == "InvalidParameterValue");
    CHECK(r.entries[4].is_ok());
    CHECK(reader.unknown_entries() == 2); // "9" names no entry; "0" twice

    const auto all = parse_with(reader, R"({"Successful":[{"Id":"0"},{"Id":"1"}],"Failed":[]})",
                                [&](const simdjson::dom::object& root) {
                                    return reader.by_id(root, std::span(ids).first(2), test_table);
                                });
    CHECK(all.entries.empty());
    CHECK_FALSE(all.request);
}

TEST_CASE("aws batch: by position reads Records[i] / RequestResponses[i], null codes are successes") {
    batch_response_reader reader;
    const auto r = parse_with(reader,
                              R"({"FailedRecordCount":2,"Records":[
                                    {"SequenceNumber":"1","ShardId":"shardId-0","ErrorCode":null},
                                    {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"},
                                    {"SequenceNumber":"2","ShardId":"shardId-1"},
                                    {"ErrorCode":"InternalFailure","ErrorMessage":"try again"}]})",
                              [&](const simdjson::dom::object& root) { return reader.by_position(root, 4, test_table); });
    REQUIRE(r.entries.size() == 4);
    CHECK(r.entries[0].is_ok());
    CHECK(r.entries[1].kind == outcome_kind::throttled);
    CHECK(r.entries[2].is_ok());
    CHECK(r.entries[3].kind == outcome_kind::retry);
    CHECK(reader.failed_count_mismatches() == 0);

    position_response_fields firehose;
    firehose.results = "RequestResponses";
    firehose.failed_count = "FailedPutCount";
    const auto f = parse_with(reader,
                              R"({"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"slow down"}]})",
                              [&](const simdjson::dom::object& root) {
                                  return reader.by_position(root, 2, test_table, firehose);
                              });
    REQUIRE(f.entries.size() == 2);
    CHECK(f.entries[1].retryable());
    CHECK(reader.failed_count_mismatches() == 1); // it said 0 failed: the per-record results win

    SUBCASE("a response with the wrong number of results fails the whole request, retryably") {
        const auto bad = parse_with(reader, R"({"Records":[{"SequenceNumber":"1"}]})",
                                    [&](const simdjson::dom::object& root) { return reader.by_position(root, 2, test_table); });
        REQUIRE(bad.request);
        CHECK(bad.request->retryable());
    }
    SUBCASE("a response without the array fails the whole request, retryably") {
        const auto bad = parse_with(reader, R"({"Oops":1})",
                                    [&](const simdjson::dom::object& root) { return reader.by_position(root, 2, test_table); });
        REQUIRE(bad.request);
        CHECK(bad.request->retryable());
    }
    simdjson::dom::object root;
    CHECK_FALSE(reader.parse("<html>not json</html>", root));
}

TEST_CASE("aws batch: by index ranges rejects the too old, expired and too new events and delivers the rest") {
    rejected_ranges r;
    r.too_old_end = 1;
    r.expired_end = 0;
    r.too_new_start = 5;
    const auto out = by_index_ranges(7, r);
    REQUIRE(out.entries.size() == 7);
    CHECK(out.entries[0].service_code == "ExpiredLogEvent");
    CHECK(out.entries[1].service_code == "TooOldLogEvent");
    for (std::size_t i = 2; i < 5; ++i) CHECK(out.entries[i].is_ok());
    CHECK(out.entries[5].service_code == "TooNewLogEvent");
    CHECK(out.entries[6].kind == outcome_kind::reject);
    CHECK(by_index_ranges(3, {}).entries.empty());
    // Out-of-range indexes from a broken response touch nothing outside the batch.
    rejected_ranges wild;
    wild.too_old_end = 99;
    CHECK(by_index_ranges(2, wild).entries.size() == 2);
}

TEST_CASE("aws batch: by unprocessed retries exactly the entries handed back, as throttled") {
    const std::vector<std::string> keys = {"pk=1", "pk=2", "pk=3"};
    const std::vector<std::string> back = {"pk=3", "pk=1"};
    const auto r = by_unprocessed(keys, back);
    REQUIRE(r.entries.size() == 3);
    CHECK(r.entries[0].kind == outcome_kind::throttled);
    CHECK(r.entries[1].is_ok());
    CHECK(r.entries[2].kind == outcome_kind::throttled);
    CHECK(by_unprocessed(keys, {}).entries.empty());
    CHECK(all_or_nothing().entries.empty());
}

TEST_CASE("aws batch: per-group outcomes spread to the entries each group carried") {
    batch_result groups;
    groups.entries = {outcome::ok(), outcome::throttle("slow"), outcome::ok()};
    const std::vector<std::size_t> sizes = {2, 3, 1};
    const auto r = per_entry_of_groups(groups, sizes);
    REQUIRE(r.entries.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(r.entries[i].throttled() == (i >= 2 && i < 5));
    CHECK(per_entry_of_groups(batch_result::all_ok(), sizes).entries.empty());
    const auto failed = per_entry_of_groups(batch_result::failed(outcome::retry("x")), sizes);
    CHECK(failed.request.has_value());
    batch_result short_answer;
    short_answer.entries = {outcome::ok()};
    const auto missing = per_entry_of_groups(short_answer, sizes);
    REQUIRE(missing.entries.size() == 6);
    CHECK(missing.entries[5].kind == outcome_kind::retry); // a group without a result is never assumed delivered
}

TEST_CASE("aws batch: outcomes of entries sent in another order go back to their batch positions") {
    const std::vector<std::size_t> sent = {3, 0, 2}; // entry 1 was not sent
    batch_result as_sent;
    as_sent.entries = {outcome::reject("a"), outcome::ok(), outcome::ok()};
    const auto r = in_batch_order(as_sent, sent, 4, outcome::retry("not sent"));
    REQUIRE(r.entries.size() == 4);
    CHECK(r.entries[3].kind == outcome_kind::reject);
    CHECK(r.entries[0].is_ok());
    CHECK(r.entries[1].kind == outcome_kind::retry);
    CHECK(r.entries[2].is_ok());
    const auto all = in_batch_order(batch_result::all_ok(), std::vector<std::size_t>{1, 0}, 2, outcome::retry("x"));
    CHECK(all.entries.empty());
    const auto partial = in_batch_order(batch_result::all_ok(), std::vector<std::size_t>{1}, 2, outcome::retry("x"));
    REQUIRE(partial.entries.size() == 2);
    CHECK(partial.entries[1].is_ok());
    CHECK(partial.entries[0].kind == outcome_kind::retry);
}

TEST_CASE("aws batch: a whole request's error takes the service table's verdict where it lists the code") {
    outcome o = outcome::retry("HTTP 500");
    o.service_code = "ProvisionedThroughputExceededException";
    CHECK(classify_request(test_table, o).kind == outcome_kind::throttled);
    o.service_code = "KMSAccessDeniedException";
    CHECK(classify_request(test_table, o).kind == outcome_kind::reject);
    o.service_code = "NotListed";
    CHECK(classify_request(test_table, o).kind == outcome_kind::retry);
    CHECK(listed_verdict(test_table, "WeirdButFine") == error_verdict::retry);
    CHECK_FALSE(listed_verdict(test_table, "ThrottlingException").has_value()); // AWS-wide codes are not "listed"
}

} // TEST_SUITE

} // namespace test_aws_batch

#endif
