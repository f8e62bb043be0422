// aws_fixture: the loopback stand-ins of tests/support/aws_fakes.hpp as a program, for what runs
// sluice as a user would (examples/aws_send under ctest) against the AWS batch APIs no emulator
// covers: Firehose PutRecordBatch, CloudWatch PutMetricData, CloudWatch Logs (PutLogEvents,
// CreateLogGroup, CreateLogStream). Each enforces its API's limits as the reference documents them
// (docs/aws-fixtures.md); every delivery stream exists, log groups and streams must be created.
//
//   aws_fixture <state-dir>      listens on 127.0.0.1 and a free port, writes <state-dir>/endpoint
//                                (http://127.0.0.1:PORT), serves until SIGTERM or SIGINT
//
// GET /fixture/stats answers what was accepted, per service: records (or data, or events), the
// distinct "seq" numbers among them (aws_send numbers its records), requests, and limit violations
// (requests over a limit, refused as AWS refuses them: a batcher's bug).

#include "aws_fakes.hpp"
#include "http_server.hpp"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

namespace {

using namespace sluice_test;

/// The number after "seq": in a record, if any.
bool seq_of(std::string_view text, long long& out) {
    const auto at = text.find("\"seq\":");
    if (at == std::string_view::npos) return false;
    std::size_t i = at + 6;
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
    out = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) out = out * 10 + (text[i] - '0');
    return true;
}

std::string section(std::string_view name, std::size_t records, std::size_t ids, std::size_t requests, std::size_t violations) {
    return "\"" + std::string(name) + "\":{\"records\":" + std::to_string(records) + ",\"ids\":" + std::to_string(ids) +
           ",\"requests\":" + std::to_string(requests) + ",\"violations\":" + std::to_string(violations) + "}";
}

struct fixture {
    fake_firehose firehose;
    fake_cloudwatch cloudwatch;
    fake_logs logs;

    fixture() { firehose.any_stream = true; }

    http_reply stats() {
        std::set<long long> ids;
        long long seq = 0;
        std::size_t records = 0;
        std::string out = "{";
        {
            std::lock_guard lock(firehose.mutex);
            for (const auto& data : firehose.accepted) {
                std::size_t start = 0;
                while (start < data.size()) { // newline-framed or aggregated records: one per line
                    const std::size_t end = std::min(data.find('\n', start), data.size());
                    ++records;
                    if (seq_of(std::string_view(data).substr(start, end - start), seq)) ids.insert(seq);
                    start = end + 1;
                }
            }
            out += section("firehose", records, ids.size(), firehose.requests, firehose.limit_violations);
        }
        ids.clear();
        records = 0;
        {
            std::lock_guard lock(cloudwatch.mutex);
            for (const auto& [ns, data] : cloudwatch.accepted)
                for (const auto& d : data) {
                    ++records;
                    if (d.value) ids.insert(static_cast<long long>(*d.value));
                }
            out += "," + section("cloudwatch", records, ids.size(), cloudwatch.requests, cloudwatch.limit_violations);
        }
        ids.clear();
        records = 0;
        {
            std::lock_guard lock(logs.mutex);
            for (const auto& [group, streams] : logs.groups)
                for (const auto& [stream, events] : streams)
                    for (const auto& e : events) {
                        ++records;
                        if (seq_of(e.message, seq)) ids.insert(seq);
                    }
            out += "," + section("logs", records, ids.size(), logs.requests, logs.limit_violations);
        }
        http_reply r;
        r.headers.emplace_back("Content-Type", "application/json");
        r.body = out + "}";
        return r;
    }

    http_reply handle(const http_exchange& ex) {
        if (ex.method == "GET" && ex.target == "/fixture/stats") return stats();
        const auto target = ex.header("x-amz-target").value_or("");
        if (target.starts_with("Firehose_20150804.")) return firehose.handle(ex);
        if (target.starts_with("GraniteServiceVersion20100801.")) return cloudwatch.handle(ex);
        if (target.starts_with("Logs_20140328.")) return logs.handle(ex);
        return aws_error(400, "UnknownOperationException", "this fixture serves Firehose, CloudWatch and CloudWatch Logs", json_1_1);
    }
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fputs("usage: aws_fixture <state-dir>\n", stderr);
        return 2;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before the server's threads start: they inherit it
    fixture f;
    http_server server([&](const http_exchange& ex) { return f.handle(ex); });
    const std::string dir = argv[1];
    {
        std::ofstream out(dir + "/endpoint.tmp");
        out << server.url() << "\n";
        if (!out) {
            std::fprintf(stderr, "aws_fixture: cannot write %s/endpoint.tmp\n", dir.c_str());
            return 1;
        }
    }
    if (std::rename((dir + "/endpoint.tmp").c_str(), (dir + "/endpoint").c_str()) != 0) return 1;
    std::printf("aws_fixture: listening on %s\n", server.url().c_str());
    std::fflush(stdout);
    int which = 0;
    sigwait(&signals, &which);
    server.stop();
    std::printf("aws_fixture: stopped (signal %d)\n", which);
    return 0;
}
