// AWS service errors: parsing every protocol (responses shaped like what SQS, STS, S3, EC2,
// DynamoDB and Kinesis over CBOR send), garbage bodies, message cleaning, classification for retries, HTTP dates.

#include <doctest/doctest.h>

#include <sluice/aws/error.hpp>
#include <sluice/text/cbor.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_error {

using namespace std::chrono_literals;
using sluice::aws::classify;
using sluice::aws::parse_service_error;
using sluice::aws::retry_kind;
using sluice::aws::service_error;

namespace {

struct header {
    std::string name;
    std::string value;
};
using header_list = std::vector<header>;

service_error parse(int status, const header_list& headers, std::string_view body) {
    return parse_service_error(status, headers, body);
}

service_error with_code(std::string code, int status = 400, std::string message = {}) {
    service_error e;
    e.http_status = status;
    e.code = std::move(code);
    e.message = std::move(message);
    return e;
}

std::chrono::system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    using namespace std::chrono;
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

} // namespace

TEST_CASE("aws error: SQS JSON protocol, QueueDoesNotExist with the legacy query error header") {
    const header_list headers{{"x-amzn-RequestId", "42d59b56-7407-4c4a-be0f-4c88daeea257"},
                              {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
                              {"Content-Type", "application/x-amz-json-1.0"},
                              {"Date", "Sun, 22 Nov 2026 10:00:00 GMT"}};
    const auto e = parse(400, headers,
                         R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."})");
    CHECK(e.http_status == 400);
    CHECK(e.code == "QueueDoesNotExist");
    CHECK(e.query_code == "AWS.SimpleQueueService.NonExistentQueue");
    CHECK(e.message == "The specified queue does not exist.");
    CHECK(e.request_id == "42d59b56-7407-4c4a-be0f-4c88daeea257");
    CHECK(e.sender_fault);
    REQUIRE(e.server_time);
    CHECK(*e.server_time == utc(2026, 11, 22, 10, 0, 0));
    CHECK(classify(e) == retry_kind::none);
    CHECK(e.describe() ==
          "QueueDoesNotExist (HTTP 400, request id 42d59b56-7407-4c4a-be0f-4c88daeea257): The specified queue does not exist.");
}

TEST_CASE("aws error: JSON __type forms, code member, Message, x-amzn-ErrorType") {
    SUBCASE("bare __type (older JSON services)") {
        const auto e = parse(400, {}, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
        CHECK(e.code == "ThrottlingException");
        CHECK(e.message == "Rate exceeded");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("legacy dotted code in __type") {
        const auto e = parse(400, {}, R"({"__type":"AWS.SimpleQueueService.NonExistentQueue","Message":"gone"})");
        CHECK(e.code == "AWS.SimpleQueueService.NonExistentQueue");
        CHECK(e.message == "gone");
    }
    SUBCASE("namespaced with a version (DynamoDB)") {
        const auto e = parse(400, {{"x-amzn-RequestId", "ABCD"}},
                             R"({"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",)"
                             R"("message":"The level of configured provisioned throughput for the table was exceeded."})");
        CHECK(e.code == "ProvisionedThroughputExceededException");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("restJson: code member and the x-amzn-ErrorType header, which wins") {
        const auto body = R"({"code":"BadRequestException","message":"nope"})";
        CHECK(parse(400, {}, body).code == "BadRequestException");
        const auto e = parse(429, {{"X-Amzn-ErrorType", "TooManyRequestsException:http://internal.amazon.com/coral/"}}, body);
        CHECK(e.code == "TooManyRequestsException");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("other members, nesting and whitespace are skipped") {
        const auto e = parse(400, {},
                             " \n{ \"Details\": {\"a\": [1, 2.5e3, true, null, {\"__type\": \"inner\"}]},\n"
                             "  \"__type\" : \"com.amazonaws.sqs#InvalidAddress\" , \"message\" : \"bad address\" }\n");
        CHECK(e.code == "InvalidAddress");
        CHECK(e.message == "bad address");
    }
    SUBCASE("escapes are decoded") {
        const auto e = parse(400, {}, R"({"__type":"X","message":"caf\u00e9 \ud83d\ude00 \"q\" a\/b"})");
        CHECK(e.message == "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\" a/b");
    }
    SUBCASE("a query error header without a fault keeps the status's fault") {
        const auto e = parse(500, {{"x-amzn-query-error", "InternalError"}}, R"({"__type":"InternalFailure"})");
        CHECK(e.query_code == "InternalError");
        CHECK_FALSE(e.sender_fault);
        CHECK(classify(e) == retry_kind::transient);
    }
    SUBCASE("Receiver in the query error header") {
        const auto e = parse(400, {{"x-amzn-query-error", "ServiceUnavailable;Receiver"}}, R"({"__type":"X"})");
        CHECK_FALSE(e.sender_fault);
        CHECK(classify(e) == retry_kind::transient); // the legacy code counts too
    }
}

TEST_CASE("aws error: SQS throttling in both spellings") {
    // RequestThrottled is HTTP 403 with SenderFault: classification goes by code, not status.
    const auto e = parse(403, {{"x-amzn-query-error", "RequestThrottled;Sender"}},
                         R"({"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."})");
    CHECK(e.code == "RequestThrottled");
    CHECK(classify(e) == retry_kind::throttling);
    const auto kms = parse(400, {{"x-amzn-query-error", "KMS.ThrottlingException;Sender"}},
                           R"({"__type":"com.amazonaws.sqs#KmsThrottled","message":"KMS throttled"})");
    CHECK(kms.code == "KmsThrottled");
    CHECK(classify(kms) == retry_kind::throttling);
    service_error legacy_only = with_code("SomethingElse");
    legacy_only.query_code = "KMS.ThrottlingException";
    CHECK(classify(legacy_only) == retry_kind::throttling);
}

TEST_CASE("aws error: query protocol XML") {
    SUBCASE("SQS before the JSON protocol") {
        const auto e = parse(400, {},
                             R"(<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">)"
                             R"(<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>)"
                             R"(<Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error>)"
                             R"(<RequestId>05ec4e4c-28e5-5a0b-a6ab-4c3f7b1a1a55</RequestId></ErrorResponse>)");
        CHECK(e.code == "AWS.SimpleQueueService.NonExistentQueue");
        CHECK(e.message == "The specified queue does not exist for this wsdl version.");
        CHECK(e.request_id == "05ec4e4c-28e5-5a0b-a6ab-4c3f7b1a1a55");
        CHECK(e.sender_fault);
        CHECK(classify(e) == retry_kind::none);
    }
    SUBCASE("STS, indented, a Receiver fault on a 400 and entities") {
        const auto e = parse(400, {},
                             "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                             "  <Error>\n    <Type>Receiver</Type>\n    <Code>IDPCommunicationError</Code>\n"
                             "    <Message>The IdP said &quot;no&quot; &amp; &lt;closed&gt; &#233;&#x41;</Message>\n"
                             "  </Error>\n  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
                             "</ErrorResponse>\n");
        CHECK(e.code == "IDPCommunicationError");
        CHECK(e.message == "The IdP said \"no\" & <closed> \xC3\xA9\x41");
        CHECK_FALSE(e.sender_fault);
        CHECK(e.request_id == "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
    }
    SUBCASE("EC2: <Errors> wrapper and <RequestID>") {
        const auto e = parse(503, {},
                             "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
                             "exceeded.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>");
        CHECK(e.code == "RequestLimitExceeded");
        CHECK(e.request_id == "ea966190-f9aa-478e-9ede-example");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("the request id header wins over the body") {
        const auto e = parse(400, {{"x-amzn-requestid", "from-header"}},
                             "<ErrorResponse><Error><Code>X</Code></Error><RequestId>from-body</RequestId></ErrorResponse>");
        CHECK(e.request_id == "from-header");
    }
}

TEST_CASE("aws error: S3-style XML") {
    const auto slow = parse(503, {{"x-amz-request-id", "4442587FB7D0A2F9"}, {"x-amz-id-2", "xyz"}},
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please "
                            "reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>");
    CHECK(slow.code == "SlowDown");
    CHECK(slow.request_id == "4442587FB7D0A2F9");
    CHECK_FALSE(slow.sender_fault);
    CHECK(classify(slow) == retry_kind::throttling);

    const auto skew = parse(403, {},
                            "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and "
                            "the current time is too large.</Message><RequestTime>20260101T000000Z</RequestTime><ServerTime>"
                            "2026-01-01T00:20:00Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>"
                            "<RequestId>7F1C</RequestId></Error>");
    CHECK(skew.code == "RequestTimeTooSkewed");
    CHECK(skew.sender_fault);
    CHECK(skew.request_id == "7F1C");
    CHECK(classify(skew) == retry_kind::clock_skew);

    const auto no_such = parse(404, {}, "<Error><Code>NoSuchBucket</Code><Message/><BucketName>b</BucketName></Error>");
    CHECK(no_such.code == "NoSuchBucket");
    CHECK(no_such.message.empty());
}

TEST_CASE("aws error: garbage, empty and HTML bodies fall back on the status") {
    SUBCASE("HTML from a load balancer") {
        const auto e = parse(503, {},
                             "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 "
                             "Service Temporarily Unavailable</h1></center></body></html>");
        CHECK(e.code == "HTTP 503");
        CHECK(e.message.find("Service Unavailable") == 0);
        CHECK(e.message.find("<html>") == std::string::npos);
        CHECK(classify(e) == retry_kind::transient);
        CHECK_FALSE(e.sender_fault);
    }
    SUBCASE("empty body") {
        const auto e = parse(502, {}, "");
        CHECK(e.code == "HTTP 502");
        CHECK(e.message == "Bad Gateway");
        CHECK(classify(e) == retry_kind::transient);
    }
    SUBCASE("binary garbage") {
        const std::string junk("\x00\xff\x01{\"__type\"", 12);
        const auto e = parse(500, {}, junk);
        CHECK(e.code == "HTTP 500");
        CHECK(e.message.find("unrecognised error body, 12 bytes") != std::string::npos);
    }
    SUBCASE("truncated JSON keeps what it read") {
        const auto e = parse(400, {}, R"({"__type":"com.amazonaws.sqs#InvalidAddress","message":"The addr)");
        CHECK(e.code == "InvalidAddress");
    }
    SUBCASE("JSON without a code") {
        const auto e = parse(429, {}, R"({"message":"Too Many Requests"})");
        CHECK(e.code == "HTTP 429");
        CHECK(e.message == "Too Many Requests");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("an unknown status has no reason phrase") {
        const auto e = parse(418, {}, "");
        CHECK(e.code == "HTTP 418");
        CHECK(e.message.empty());
        CHECK(e.sender_fault);
    }
    SUBCASE("deeply nested JSON stops safely") {
        std::string deep = "{\"a\":";
        for (int i = 0; i < 10000; ++i) deep += '[';
        const auto e = parse(400, {}, deep);
        CHECK(e.code == "HTTP 400");
    }
    SUBCASE("parse_service_error without headers") {
        CHECK(parse_service_error(400, R"({"__type":"X"})").code == "X");
    }
}

TEST_CASE("aws error: CBOR bodies (Kinesis's application/x-amz-cbor-1.1) give their code and message") {
    namespace cbor = sluice::text::cbor;
    const auto error_map = [](std::string_view type, std::string_view message) {
        std::string b;
        cbor::append_head(b, cbor::major::map, 3);
        cbor::append_text(b, "__type");
        cbor::append_text(b, type);
        cbor::append_text(b, "retryAfter"); // a member that is not text is skipped
        cbor::append_head(b, cbor::major::unsigned_integer, 5);
        cbor::append_text(b, "message");
        cbor::append_text(b, message);
        return b;
    };
    SUBCASE("kinesalite's and AWS's shape, a message ending in a newline") {
        const auto e = parse(400, {{"x-amzn-RequestId", "req-1"}},
                             error_map("ResourceNotFoundException", "Stream s under account 0 not found.\n"));
        CHECK(e.code == "ResourceNotFoundException");
        CHECK(e.message == "Stream s under account 0 not found.");
        CHECK(e.request_id == "req-1");
        CHECK(classify(e) == retry_kind::none);
    }
    SUBCASE("a namespaced __type, throttling") {
        const auto e = parse(400, {}, error_map("com.amazonaws.kinesis#LimitExceededException", "Rate exceeded"));
        CHECK(e.code == "LimitExceededException");
        CHECK(classify(e) == retry_kind::throttling);
    }
    SUBCASE("x-amzn-ErrorType wins over the body") {
        const auto e = parse(400, {{"x-amzn-ErrorType", "ThrottlingException"}}, error_map("Other", "m"));
        CHECK(e.code == "ThrottlingException");
    }
    SUBCASE("truncated, or text that is not UTF-8: the status stands in") {
        const std::string whole = error_map("ResourceNotFoundException", "gone");
        CHECK(parse(500, {}, whole.substr(0, 5)).code == "HTTP 500");
        std::string bad;
        cbor::append_head(bad, cbor::major::map, 1);
        cbor::append_text(bad, "__type");
        cbor::append_text(bad, "\xff\xfe");
        CHECK(parse(503, {}, bad).code == "HTTP 503");
    }
}

TEST_CASE("aws error: headers as pairs, as a map, or through a lookup callback") {
    const std::string body = R"({"__type":"X"})";
    const std::vector<std::pair<std::string, std::string>> pairs{{"X-Amz-Request-Id", "p"}};
    CHECK(parse_service_error(400, pairs, body).request_id == "p");
    const std::map<std::string, std::string> map{{"x-amzn-requestid", "m"}};
    CHECK(parse_service_error(400, map, body).request_id == "m");
    std::vector<std::string> asked;
    const auto lookup = [&asked](std::string_view name) -> std::optional<std::string_view> {
        asked.emplace_back(name);
        if (name == "x-amzn-requestid") return "cb";
        if (name == "x-amzn-query-error") return "Legacy.Code;Sender";
        return std::nullopt;
    };
    const auto e = parse_service_error(400, lookup, body);
    CHECK(e.request_id == "cb");
    CHECK(e.query_code == "Legacy.Code");
    for (const auto& name : asked)
        for (char c : name) CHECK_FALSE((c >= 'A' && c <= 'Z')); // lookups use lower-case names
}

TEST_CASE("aws error: messages are cleaned and truncated") {
    SUBCASE("control characters cannot forge log lines") {
        const auto e = parse(400, {}, R"({"__type":"X","message":"line one\nFAKE level=error\r\tend"})");
        CHECK(e.message == "line one FAKE level=error end");
    }
    SUBCASE("long messages are cut at a character boundary") {
        std::string long_message(600, 'a');
        long_message[510] = '\xC3'; // "é" straddling the 512-byte cut
        long_message[511] = '\xA9';
        long_message[512] = '\xC3';
        long_message[513] = '\xA9';
        const auto e = parse(400, {}, R"({"__type":"X","message":")" + long_message + "\"}");
        CHECK(e.message.size() <= 512 + 3);
        CHECK(e.message.ends_with("\xC3\xA9..."));
        sluice::aws::error_parse_options small;
        small.max_message_bytes = 10;
        CHECK(parse_service_error(400, header_list{}, R"({"__type":"X","message":"0123456789abcdef"})", small).message ==
              "0123456789...");
    }
    SUBCASE("a quoted request value (it may be a message body) is redacted") {
        const auto e = parse(400, {},
                             R"({"__type":"ValidationException","message":"1 validation error detected: Value 'secret )"
                             R"(payload text' at 'entries.1.member.messageBody' failed to satisfy constraint: Member must )"
                             R"(have length less than or equal to 1048576"})");
        CHECK(e.message.find("secret") == std::string::npos);
        CHECK(e.message.find("payload") == std::string::npos);
        CHECK(e.message.find("Value '[redacted]' at 'entries.1.member.messageBody' failed") != std::string::npos);
        const auto unterminated = parse(400, {}, R"({"__type":"X","message":"Value 'never closed secret"})");
        CHECK(unterminated.message.find("secret") == std::string::npos);
    }
    SUBCASE("a canonical request quoted by a signature mismatch is cut (it may hold a session token)") {
        const auto e = parse(403, {},
                             "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request "
                             "signature we calculated does not match the signature you provided.\n\nThe Canonical String for "
                             "this request should have been\n'POST\n/\n\nhost:sqs.us-east-1.amazonaws.com\n"
                             "x-amz-security-token:IQoJb3JpZ2luX2VjEJr\n'</Message></Error></ErrorResponse>");
        CHECK(e.message.find("IQoJ") == std::string::npos);
        CHECK(e.message.find("x-amz-security-token") == std::string::npos);
        CHECK(e.message == "The request signature we calculated does not match the signature you provided. [canonical "
                           "request redacted]");
        CHECK(classify(e) == retry_kind::none); // a wrong signature, not a wrong clock
    }
    SUBCASE("signatures and credentials quoted in a URL are redacted") {
        const auto e = parse(403, {},
                             R"({"__type":"X","message":"bad url https://q/?X-Amz-Credential=AKIDEXAMPLE%2F2026&X-Amz-Signature=abcdef0123 done"})");
        CHECK(e.message.find("AKIDEXAMPLE") == std::string::npos);
        CHECK(e.message.find("abcdef0123") == std::string::npos);
        CHECK(e.message.find("done") != std::string::npos);
    }
    SUBCASE("request ids and codes are bounded") {
        const auto e = parse(400, {{"x-amzn-requestid", std::string(300, 'r') + "\n"}}, R"({"__type":")" + std::string(300, 'c') + "\"}");
        CHECK(e.request_id.size() == 128);
        CHECK(e.code.size() == 128);
    }
}

TEST_CASE("aws error: classification table") {
    struct row {
        const char* code;
        int status;
        retry_kind kind;
    };
    const row rows[] = {
        // the standard mode's throttling codes, whatever the status
        {"Throttling", 400, retry_kind::throttling},
        {"ThrottlingException", 400, retry_kind::throttling},
        {"ThrottledException", 400, retry_kind::throttling},
        {"RequestThrottledException", 400, retry_kind::throttling},
        {"TooManyRequestsException", 400, retry_kind::throttling},
        {"ProvisionedThroughputExceededException", 400, retry_kind::throttling},
        {"TransactionInProgressException", 400, retry_kind::throttling},
        {"RequestLimitExceeded", 400, retry_kind::throttling},
        {"BandwidthLimitExceeded", 400, retry_kind::throttling},
        {"LimitExceededException", 400, retry_kind::throttling},
        {"RequestThrottled", 403, retry_kind::throttling},
        {"SlowDown", 503, retry_kind::throttling},
        {"PriorRequestNotComplete", 400, retry_kind::throttling},
        {"EC2ThrottledException", 400, retry_kind::throttling},
        {"KmsThrottled", 400, retry_kind::throttling},
        {"HTTP 429", 429, retry_kind::throttling},
        // transient
        {"RequestTimeout", 400, retry_kind::transient},
        {"RequestTimeoutException", 400, retry_kind::transient},
        {"InternalError", 500, retry_kind::transient},
        {"InternalFailure", 500, retry_kind::transient},
        {"ServiceUnavailable", 503, retry_kind::transient},
        {"HTTP 500", 500, retry_kind::transient},
        {"HTTP 502", 502, retry_kind::transient},
        {"HTTP 503", 503, retry_kind::transient},
        {"HTTP 504", 504, retry_kind::transient},
        {"SomethingNew", 503, retry_kind::transient},
        // clock skew
        {"RequestTimeTooSkewed", 403, retry_kind::clock_skew},
        {"RequestExpired", 400, retry_kind::clock_skew},
        {"RequestInTheFuture", 403, retry_kind::clock_skew},
        // not retryable
        {"ValidationException", 400, retry_kind::none},
        {"AccessDenied", 403, retry_kind::none},
        {"AccessDeniedException", 400, retry_kind::none},
        {"QueueDoesNotExist", 400, retry_kind::none},
        {"InvalidParameterValue", 400, retry_kind::none},
        {"BatchRequestTooLong", 400, retry_kind::none},
        {"InvalidClientTokenId", 403, retry_kind::none},
        {"ExpiredToken", 400, retry_kind::none},
        {"OverLimit", 403, retry_kind::none},
        {"HTTP 501", 501, retry_kind::none},
        {"HTTP 404", 404, retry_kind::none},
        {"throttlingexception", 400, retry_kind::none}, // codes are case-sensitive
    };
    for (const auto& r : rows) {
        CAPTURE(r.code);
        CHECK(classify(with_code(r.code, r.status)) == r.kind);
    }
}

TEST_CASE("aws error: signature errors are clock skew only when the message says so") {
    CHECK(classify(with_code("InvalidSignatureException", 400,
                             "Signature expired: 20260101T000000Z is now earlier than 20260101T001000Z "
                             "(20260101T001500Z - 5 min.)")) == retry_kind::clock_skew);
    CHECK(classify(with_code("InvalidSignatureException", 400,
                             "Signature not yet current: 20260101T003000Z is still later than 20260101T002000Z "
                             "(20260101T001500Z + 5 min.)")) == retry_kind::clock_skew);
    CHECK(classify(with_code("SignatureDoesNotMatch", 403, "Signature expired: 20260101T000000Z is now earlier than x")) ==
          retry_kind::clock_skew);
    CHECK(classify(with_code("AuthFailure", 401, "Request has expired.")) == retry_kind::clock_skew);
    CHECK(classify(with_code("InvalidSignatureException", 400,
                             "The request signature we calculated does not match the signature you provided.")) ==
          retry_kind::none);
    CHECK(classify(with_code("AuthFailure", 401, "AWS was not able to validate the provided access credentials")) ==
          retry_kind::none);
}

TEST_CASE("aws error: transport failures and entry results") {
    using sluice::outcome_kind;
    using sluice::http::transport_error;
    CHECK(classify(make_error_code(transport_error::timed_out)) == retry_kind::transient);
    CHECK(classify(make_error_code(transport_error::connection_reset)) == retry_kind::transient);
    CHECK(classify(make_error_code(transport_error::couldnt_connect)) == retry_kind::transient);
    CHECK(classify(make_error_code(transport_error::tls_failure)) == retry_kind::none);
    CHECK(classify(make_error_code(transport_error::cancelled)) == retry_kind::none);
    CHECK(classify(std::make_error_code(std::errc::connection_reset)) == retry_kind::none); // another category

    const auto reset = sluice::aws::to_entry_result(make_error_code(transport_error::connection_reset));
    CHECK(reset.retryable());
    CHECK(reset.code == transport_error::connection_reset);
    CHECK(reset.message == "transport: connection reset or closed early");
    CHECK(sluice::aws::to_entry_result(make_error_code(transport_error::cancelled)).retryable());
    CHECK(sluice::aws::to_entry_result(make_error_code(transport_error::tls_failure)).kind == outcome_kind::reject);

    const auto throttled = sluice::aws::to_entry_result(with_code("RequestThrottled", 403));
    CHECK(throttled.retryable());
    CHECK(throttled.throttled());
    const auto unavailable = sluice::aws::to_entry_result(with_code("ServiceUnavailable", 503));
    CHECK(unavailable.retryable());
    CHECK_FALSE(unavailable.throttled());
    const auto denied = sluice::aws::to_entry_result(with_code("AccessDenied", 403, "no"));
    CHECK(denied.kind == outcome_kind::reject);
    CHECK(denied.message == "AccessDenied (HTTP 403): no");
}

TEST_CASE("aws error: HTTP dates") {
    using sluice::aws::parse_http_date;
    const auto expected = utc(1994, 11, 6, 8, 49, 37);
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected);
    CHECK(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\r\n") == expected);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == expected);
    CHECK(parse_http_date("Sun, 22 Nov 2026 10:00:00 GMT") == utc(2026, 11, 22, 10, 0, 0));
    CHECK(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT") == utc(2024, 2, 29, 23, 59, 59));
    CHECK(parse_http_date("Monday, 01-Jan-35 00:00:00 GMT") == utc(2035, 1, 1, 0, 0, 0));
    CHECK_FALSE(parse_http_date(""));
    CHECK_FALSE(parse_http_date("yesterday"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"));
    CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 30 Feb 2026 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 24:00:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 94 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 8:49:37 GMT"));
    // A malformed Date header leaves the error without a server time.
    CHECK_FALSE(parse(500, {{"date", "garbage"}}, "").server_time);
}

} // namespace test_aws_error

