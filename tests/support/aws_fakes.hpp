#pragma once

// Loopback stand-ins for the AWS batch APIs no emulator covers (Firehose PutRecordBatch, CloudWatch
// PutMetricData, CloudWatch Logs PutLogEvents) and for what dynalite never does (DynamoDB's
// UnprocessedItems and throttling). Each follows the API reference: the target and content type, the
// service's limits (a request over them is refused as AWS refuses it, and counted as a violation, so
// a batcher that breaks a limit fails its test), and the documented responses. Faults are injected by
// the tests: per record, per request. docs/aws-fixtures.md says what each one enforces.
//
// Used by the unit tests (with sluice_test::http_server) and by tests/support/aws_fixture.cpp, the
// standalone fixture program the examples run against.

#include "http_server.hpp"

#include <sluice/text/base64.hpp>
#include <sluice/text/decimal.hpp>
#include <sluice/text/utf8.hpp>

#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_test {

/// An AWS JSON-protocol error answer.
inline http_reply aws_error(int status, std::string_view code, std::string_view message, std::string_view type) {
    http_reply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", std::string(type));
    r.headers.emplace_back("x-amzn-RequestId", "fixture-request");
    r.body = "{\"__type\":\"" + std::string(code) + "\",\"message\":\"" + std::string(message) + "\"}";
    return r;
}

inline http_reply aws_json(std::string body, std::string_view type) {
    http_reply r;
    r.headers.emplace_back("Content-Type", std::string(type));
    r.headers.emplace_back("x-amzn-RequestId", "fixture-request");
    r.body = std::move(body);
    return r;
}

inline constexpr std::string_view json_1_0 = "application/x-amz-json-1.0";
inline constexpr std::string_view json_1_1 = "application/x-amz-json-1.1";

/// Faults common to every fake: the n-th request (1-based) may be answered by the test instead.
struct request_faults {
    std::function<std::optional<http_reply>(std::size_t n)> request_fault{};
};

// ---- Firehose PutRecordBatch --------------------------------------------------------------------

struct fake_firehose : request_faults {
    std::mutex mutex;
    /// Delivery streams that exist; with any_stream, every name does.
    std::set<std::string> streams{"events"};
    bool any_stream = false;
    std::vector<std::string> accepted;          // decoded records, in acceptance order
    std::vector<std::size_t> batch_sizes;       // records per accepted request
    std::size_t requests = 0, limit_violations = 0;
    /// A record's error code ("" accepts it).
    std::function<std::string(const std::string& data)> record_fault{};

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        if (ex.header("x-amz-target") != "Firehose_20150804.PutRecordBatch" || ex.header("content-type") != json_1_1)
            return aws_error(400, "UnknownOperationException", "wrong target or content type", json_1_1);
        if (request_fault)
            if (auto f = request_fault(requests)) return *f;
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view stream;
        simdjson::dom::array records;
        if (parser.parse(ex.body).get(doc) != simdjson::SUCCESS || doc["DeliveryStreamName"].get(stream) != simdjson::SUCCESS ||
            doc["Records"].get(records) != simdjson::SUCCESS)
            return aws_error(400, "SerializationException", "malformed request", json_1_1);
        if (!any_stream && !streams.contains(std::string(stream)))
            return aws_error(400, "ResourceNotFoundException", "Firehose stream not found", json_1_1);
        std::vector<std::string> data;
        std::size_t total = 0;
        for (simdjson::dom::element r : records) {
            std::string_view b64;
            if (r["Data"].get(b64) != simdjson::SUCCESS) return aws_error(400, "SerializationException", "no Data", json_1_1);
            auto bytes = sluice::text::decode_base64(b64);
            if (!bytes) return aws_error(400, "SerializationException", "Data is not base64", json_1_1);
            if (bytes->empty() || bytes->size() > 1'024'000) {
                ++limit_violations;
                return aws_error(400, "ValidationException", "record size outside 1 byte to 1,000 KiB", json_1_1);
            }
            total += bytes->size();
            data.push_back(std::move(*bytes));
        }
        if (data.empty() || data.size() > 500 || total > (4u << 20)) {
            ++limit_violations;
            return aws_error(400, "InvalidArgumentException", "request over PutRecordBatch's limits", json_1_1);
        }
        batch_sizes.push_back(data.size());
        std::string responses = "[";
        std::size_t failed = 0;
        for (auto& d : data) {
            if (responses.size() > 1) responses += ',';
            const std::string code = record_fault ? record_fault(d) : std::string();
            if (code.empty()) {
                accepted.push_back(std::move(d));
                responses += "{\"RecordId\":\"r-" + std::to_string(accepted.size()) + "\"}";
            } else {
                ++failed;
                responses += "{\"ErrorCode\":\"" + code + "\",\"ErrorMessage\":\"failed on purpose\"}";
            }
        }
        return aws_json("{\"FailedPutCount\":" + std::to_string(failed) + ",\"Encrypted\":false,\"RequestResponses\":" + responses + "]}", json_1_1);
    }
};

// ---- CloudWatch PutMetricData ---------------------------------------------------------------------

struct fake_datum {
    std::string name;
    std::vector<std::pair<std::string, std::string>> dimensions;
    double timestamp = 0;
    std::optional<double> value;
    std::vector<double> values, counts;
    std::optional<std::vector<double>> statistics; // count, sum, min, max
    std::string unit;
    std::int64_t resolution = 60;
};

struct fake_cloudwatch : request_faults {
    std::mutex mutex;
    std::map<std::string, std::vector<fake_datum>> accepted; // namespace -> data, in arrival order
    std::vector<std::size_t> batch_sizes;
    std::size_t requests = 0, limit_violations = 0;

    static bool in_range(double v) {
        const double m = std::fabs(v);
        return std::isfinite(v) && (m == 0 || (m <= std::ldexp(1.0, 360) && m >= std::ldexp(1.0, -360)));
    }

    static bool numbers(simdjson::dom::element e, std::vector<double>& out) {
        simdjson::dom::array a;
        if (e.get(a) != simdjson::SUCCESS) return false;
        for (simdjson::dom::element x : a) {
            double v = 0;
            if (x.get_double().get(v) != simdjson::SUCCESS) return false;
            out.push_back(v);
        }
        return true;
    }

    // The API reference's rules for one datum; an empty string when it holds.
    static std::string check(simdjson::dom::object d, fake_datum& out);

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        if (ex.header("x-amz-target") != "GraniteServiceVersion20100801.PutMetricData" || ex.header("content-type") != json_1_0 ||
            ex.header("x-amzn-query-mode") != "true")
            return aws_error(400, "UnknownOperationException", "wrong target, content type or query mode", json_1_0);
        if (request_fault)
            if (auto f = request_fault(requests)) return *f;
        if (ex.body.size() > 1'048'576) {
            ++limit_violations;
            return aws_error(413, "RequestEntityTooLarge", "request over 1 MB", json_1_0);
        }
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view ns;
        simdjson::dom::array data;
        if (parser.parse(ex.body).get(doc) != simdjson::SUCCESS || doc["Namespace"].get(ns) != simdjson::SUCCESS ||
            doc["MetricData"].get(data) != simdjson::SUCCESS)
            return aws_error(400, "MissingParameter", "Namespace and MetricData are required", json_1_0);
        if (ns.empty() || ns.size() > 255 || ns.starts_with("AWS/")) {
            ++limit_violations;
            return aws_error(400, "InvalidParameterValue", "bad namespace", json_1_0);
        }
        std::vector<fake_datum> parsed;
        for (simdjson::dom::element e : data) {
            simdjson::dom::object o;
            fake_datum d;
            std::string why = e.get(o) == simdjson::SUCCESS ? check(o, d) : "datum is not an object";
            if (!why.empty()) {
                ++limit_violations;
                return aws_error(400, "InvalidParameterValue", why, json_1_0);
            }
            parsed.push_back(std::move(d));
        }
        if (parsed.empty() || parsed.size() > 1000) {
            ++limit_violations;
            return aws_error(400, "InvalidParameterValue", "1 to 1,000 metric data per request", json_1_0);
        }
        batch_sizes.push_back(parsed.size());
        auto& into = accepted[std::string(ns)];
        for (auto& d : parsed) into.push_back(std::move(d));
        return aws_json("{}", json_1_0);
    }
};

inline std::string fake_cloudwatch::check(simdjson::dom::object d, fake_datum& out) {
    static const std::set<std::string, std::less<>> units = {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
        "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
        "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
        "Gigabits/Second", "Terabits/Second", "Count/Second", "None"};
    std::string_view name;
    if (d["MetricName"].get(name) != simdjson::SUCCESS || name.empty() || sluice::text::utf8_length(name) > 255)
        return "MetricName must have 1 to 255 characters";
    out.name = std::string(name);
    simdjson::dom::array dims;
    if (d["Dimensions"].get(dims) == simdjson::SUCCESS) {
        if (dims.size() > 30) return "at most 30 dimensions";
        for (simdjson::dom::element x : dims) {
            std::string_view n, v;
            if (x["Name"].get(n) != simdjson::SUCCESS || x["Value"].get(v) != simdjson::SUCCESS || n.empty() || v.empty() ||
                sluice::text::utf8_length(n) > 255 || sluice::text::utf8_length(v) > 1024)
                return "bad dimension";
            for (const auto& [pn, pv] : out.dimensions)
                if (pn == n) return "duplicate dimension";
            out.dimensions.emplace_back(n, v);
        }
    }
    if (d["Timestamp"].get_double().get(out.timestamp) != simdjson::SUCCESS) return "Timestamp must be epoch seconds";
    int kinds = 0;
    double v = 0;
    if (d["Value"].get_double().get(v) == simdjson::SUCCESS) {
        if (!in_range(v)) return "Value out of range";
        out.value = v;
        ++kinds;
    }
    if (d["Values"].error() == simdjson::SUCCESS) {
        if (!numbers(d["Values"].value_unsafe(), out.values) || out.values.empty() || out.values.size() > 150) return "1 to 150 Values";
        for (double x : out.values)
            if (!in_range(x)) return "a value out of range";
        if (d["Counts"].error() == simdjson::SUCCESS &&
            (!numbers(d["Counts"].value_unsafe(), out.counts) || out.counts.size() != out.values.size()))
            return "Counts must match Values";
        ++kinds;
    }
    simdjson::dom::object stats;
    if (d["StatisticValues"].get(stats) == simdjson::SUCCESS) {
        std::vector<double> s(4);
        const char* fields[] = {"SampleCount", "Sum", "Minimum", "Maximum"};
        for (int i = 0; i < 4; ++i)
            if (stats[fields[i]].get_double().get(s[static_cast<std::size_t>(i)]) != simdjson::SUCCESS ||
                !in_range(s[static_cast<std::size_t>(i)]))
                return "bad StatisticValues";
        out.statistics = s;
        ++kinds;
    }
    if (kinds != 1) return "exactly one of Value, Values, StatisticValues";
    std::string_view unit;
    if (d["Unit"].get(unit) == simdjson::SUCCESS) {
        if (!units.contains(unit)) return "unknown unit";
        out.unit = std::string(unit);
    }
    if (d["StorageResolution"].get_int64().get(out.resolution) == simdjson::SUCCESS && out.resolution != 1 && out.resolution != 60)
        return "StorageResolution is 1 or 60";
    return {};
}

// ---- CloudWatch Logs ------------------------------------------------------------------------------

struct fake_log_event {
    std::int64_t timestamp;
    std::string message;
};

struct fake_logs : request_faults {
    std::mutex mutex;
    /// group -> stream -> events stored, in arrival order.
    std::map<std::string, std::map<std::string, std::vector<fake_log_event>>> groups;
    /// Retention per group, in days (events older are "expired").
    std::map<std::string, int> retention_days;
    /// The service's clock is the real one plus this.
    std::chrono::milliseconds clock_offset{0};
    std::size_t requests = 0, puts = 0, limit_violations = 0, creations = 0;
    std::vector<std::size_t> batch_sizes;

    void create(const std::string& group, const std::string& stream) { groups[group][stream]; }

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        const auto target = ex.header("x-amz-target");
        if (!target || !target->starts_with("Logs_20140328.") || ex.header("content-type") != json_1_1)
            return aws_error(400, "UnknownOperationException", "wrong target or content type", json_1_1);
        if (request_fault)
            if (auto f = request_fault(requests)) return *f;
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view group, stream;
        if (parser.parse(ex.body).get(doc) != simdjson::SUCCESS || doc["logGroupName"].get(group) != simdjson::SUCCESS)
            return aws_error(400, "InvalidParameterException", "logGroupName is required", json_1_1);
        const std::string g(group);
        if (*target == "Logs_20140328.CreateLogGroup") {
            ++creations;
            if (groups.contains(g)) return aws_error(400, "ResourceAlreadyExistsException", "group exists", json_1_1);
            groups[g];
            return aws_json("", json_1_1);
        }
        if (doc["logStreamName"].get(stream) != simdjson::SUCCESS)
            return aws_error(400, "InvalidParameterException", "logStreamName is required", json_1_1);
        const std::string s(stream);
        if (*target == "Logs_20140328.CreateLogStream") {
            ++creations;
            if (!groups.contains(g)) return aws_error(400, "ResourceNotFoundException", "The specified log group does not exist.", json_1_1);
            if (groups[g].contains(s)) return aws_error(400, "ResourceAlreadyExistsException", "stream exists", json_1_1);
            groups[g][s];
            return aws_json("", json_1_1);
        }
        if (*target != "Logs_20140328.PutLogEvents") return aws_error(400, "UnknownOperationException", "unknown operation", json_1_1);
        ++puts;
        if (!groups.contains(g) || !groups[g].contains(s))
            return aws_error(400, "ResourceNotFoundException", "The specified log group or stream does not exist.", json_1_1);
        return put(doc, groups[g][s], g);
    }

private:
    // PutLogEvents' rules: count, size, order and 24-hour span fail the request (a batcher's bug,
    // counted); too old, too new and expired events are rejected by index range, the rest stored.
    http_reply put(simdjson::dom::element doc, std::vector<fake_log_event>& into, const std::string& group) {
        simdjson::dom::array events;
        if (doc["logEvents"].get(events) != simdjson::SUCCESS) return aws_error(400, "InvalidParameterException", "logEvents", json_1_1);
        std::vector<fake_log_event> got;
        std::size_t bytes = 0;
        for (simdjson::dom::element e : events) {
            std::int64_t ts = 0;
            std::string_view message;
            if (e["timestamp"].get(ts) != simdjson::SUCCESS || e["message"].get(message) != simdjson::SUCCESS || message.empty())
                return aws_error(400, "InvalidParameterException", "bad log event", json_1_1);
            bytes += message.size() + 26;
            got.push_back({ts, std::string(message)});
        }
        auto violation = [&](std::string_view why) {
            ++limit_violations;
            return aws_error(400, "InvalidParameterException", why, json_1_1);
        };
        if (got.empty() || got.size() > 10'000) return violation("1 to 10,000 log events per request");
        if (bytes > 1'048'576) return violation("request over 1,048,576 bytes");
        for (std::size_t i = 1; i < got.size(); ++i)
            if (got[i].timestamp < got[i - 1].timestamp)
                return violation("Log events in a single PutLogEvents request must be in chronological order.");
        const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     (std::chrono::system_clock::now() + clock_offset).time_since_epoch()).count();
        const std::int64_t too_old = now - 14LL * 86'400'000, too_new = now + 2LL * 3'600'000;
        const std::int64_t expired = retention_days.contains(group) ? now - retention_days[group] * 86'400'000LL : INT64_MIN;
        std::optional<std::size_t> new_start, old_end, expired_end;
        std::int64_t first = INT64_MAX, last = INT64_MIN;
        for (std::size_t i = 0; i < got.size(); ++i) {
            const std::int64_t ts = got[i].timestamp;
            if (ts > too_new) {
                if (!new_start) new_start = i;
            } else if (ts < too_old) {
                old_end = i;
            } else if (ts < expired) {
                expired_end = i;
            } else {
                first = std::min(first, ts);
                last = std::max(last, ts);
            }
        }
        if (last != INT64_MIN && last - first > 86'400'000) return violation("A batch of log events in a single request cannot span more than 24 hours.");
        batch_sizes.push_back(got.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            const bool rejected = (new_start && i >= *new_start) || (old_end && i <= *old_end) || (expired_end && i <= *expired_end);
            if (!rejected) into.push_back(std::move(got[i]));
        }
        std::string info;
        auto field = [&](std::string_view name, std::optional<std::size_t> v) {
            if (!v) return;
            info += info.empty() ? "" : ",";
            info += "\"" + std::string(name) + "\":" + std::to_string(*v);
        };
        field("tooNewLogEventStartIndex", new_start);
        field("tooOldLogEventEndIndex", old_end);
        field("expiredLogEventEndIndex", expired_end);
        std::string body = "{\"nextSequenceToken\":\"" + std::to_string(puts) + "\"";
        if (!info.empty()) body += ",\"rejectedLogEventsInfo\":{" + info + "}";
        return aws_json(body + "}", json_1_1);
    }
};

// ---- DynamoDB BatchWriteItem (what dynalite never answers) ----------------------------------------

struct fake_dynamodb : request_faults {
    std::mutex mutex;
    std::string partition_key = "id";
    /// The items stored, by partition key value (S or N text as sent), as their AttributeValue JSON.
    std::map<std::string, std::string> items;
    std::size_t requests = 0, limit_violations = 0, writes = 0;
    /// Whether an item (by partition key value) is handed back unprocessed this time.
    std::function<bool(const std::string& key)> unprocessed{};

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        if (ex.header("x-amz-target") != "DynamoDB_20120810.BatchWriteItem" || ex.header("content-type") != json_1_0)
            return aws_error(400, "UnknownOperationException", "wrong target or content type", json_1_0);
        if (request_fault)
            if (auto f = request_fault(requests)) return *f;
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        simdjson::dom::object tables;
        if (parser.parse(ex.body).get(doc) != simdjson::SUCCESS || doc["RequestItems"].get(tables) != simdjson::SUCCESS || tables.size() != 1)
            return aws_error(400, "ValidationException", "RequestItems must name one table here", json_1_0);
        const auto table = *tables.begin();
        simdjson::dom::array ops;
        if (table.value.get(ops) != simdjson::SUCCESS || ops.size() == 0 || ops.size() > 25) {
            ++limit_violations;
            return aws_error(400, "ValidationException", "1 to 25 operations per request", json_1_0);
        }
        std::set<std::string> keys;
        std::vector<std::pair<std::string, simdjson::dom::element>> parsed;
        for (simdjson::dom::element op : ops) {
            simdjson::dom::object item;
            const bool put = op["PutRequest"]["Item"].get(item) == simdjson::SUCCESS;
            if (!put && op["DeleteRequest"]["Key"].get(item) != simdjson::SUCCESS)
                return aws_error(400, "ValidationException", "unknown operation", json_1_0);
            std::string key = key_text(item);
            if (key.empty()) return aws_error(400, "ValidationException", "The provided key element does not match the schema", json_1_0);
            if (!keys.insert(key).second) {
                ++limit_violations;
                return aws_error(400, "ValidationException", "Provided list of item keys contains duplicates", json_1_0);
            }
            parsed.emplace_back(std::move(key), op);
        }
        std::string back;
        for (auto& [key, op] : parsed) {
            if (unprocessed && unprocessed(key)) {
                back += back.empty() ? "" : ",";
                back += simdjson::minify(op);
                continue;
            }
            ++writes;
            simdjson::dom::object item;
            if (op["PutRequest"]["Item"].get(item) == simdjson::SUCCESS)
                items[key] = simdjson::minify(item);
            else
                items.erase(key);
        }
        if (back.empty()) return aws_json("{\"UnprocessedItems\":{}}", json_1_0);
        return aws_json("{\"UnprocessedItems\":{\"" + std::string(table.key) + "\":[" + back + "]}}", json_1_0);
    }

private:
    std::string key_text(simdjson::dom::object item) const {
        simdjson::dom::object av;
        std::string_view v;
        if (item[partition_key].get(av) != simdjson::SUCCESS) return {};
        if (av["S"].get(v) == simdjson::SUCCESS) return "S:" + std::string(v);
        if (av["N"].get(v) == simdjson::SUCCESS) {
            auto d = sluice::text::parse_decimal(v, sluice::text::decimal_grammar::lenient);
            return d ? "N:" + d->canonical() : std::string();
        }
        return {};
    }
};

} // namespace sluice_test
