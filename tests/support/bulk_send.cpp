// bulk_send: sends the JSON documents of a file (one per line) through sluice's opensearch_sink on a
// delivery_pipeline, and prints one line per document with how it fared, for
// tests/opensearch/compare-clients.js, which sends the same documents with the official JavaScript
// clients' bulk helpers to the same fixture and compares.
//
//   bulk_send <endpoint> <documents.ndjson> [gzip] [create]
//       index "logs-{service}-%Y.%m.%d", date from "@timestamp", _id from "id"; 4 attempts per
//       document (the JavaScript helpers' default: one try and 3 retries); basic credentials from
//       BULK_USERNAME / BULK_PASSWORD when set.
//   prints {"i":<line index>,"kind":"ok"|"reject"|...,"attempts":n,"message":"..."} per document.

#include <sluice/delivery/pipeline.hpp>
#include <sluice/http/client.hpp>
#include <sluice/sinks/opensearch.hpp>
#include <sluice/text/json_escape.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    using namespace sluice;
    if (argc < 3) {
        std::fprintf(stderr, "usage: bulk_send <endpoint> <documents.ndjson> [gzip] [create]\n");
        return 2;
    }
    std::vector<std::string> docs;
    {
        std::ifstream in(argv[2]);
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) docs.push_back(line);
    }
    opensearch_options o;
    o.endpoint = argv[1];
    o.format.index = "logs-{service}-%Y.%m.%d";
    o.format.timestamp_field = "@timestamp";
    o.format.id_field = "id";
    for (int i = 3; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "gzip") o.gzip = true;
        if (flag == "create") o.format.action = bulk_action::create;
    }
    if (const char* u = std::getenv("BULK_USERNAME")) o.username = u;
    if (const char* p = std::getenv("BULK_PASSWORD")) o.password = p;

    std::vector<outcome> results(docs.size());
    io_loop loop;
    auto main_task = [&]() -> task<void> {
        http::client client(loop);
        opensearch_sink sink(client, o);
        delivery_options d;
        d.name = "opensearch";
        d.batch.max_age = std::chrono::milliseconds(20);
        d.retry.max_attempts = 4;
        d.retry.initial_backoff = std::chrono::milliseconds(5);
        d.retry.max_backoff = std::chrono::milliseconds(20);
        d.concurrency.max_in_flight = 1;
        delivery_pipeline<opensearch_sink> p(loop, sink, d);
        for (std::size_t i = 0; i < docs.size(); ++i) {
            std::string r = docs[i];
            p.submit(std::move(r), {}, [&results, i](const outcome& out) { results[i] = out; });
        }
        co_await p.flush();
        co_await p.stop(std::chrono::seconds(10));
    };
    loop.run_until_complete(main_task());
    loop.drain();
    for (std::size_t i = 0; i < results.size(); ++i) {
        std::string line = "{\"i\":" + std::to_string(i) + ",\"kind\":\"" + std::string(to_string(results[i].kind)) +
                           "\",\"attempts\":" + std::to_string(results[i].attempts) + ",\"message\":";
        text::append_json_string(line, results[i].message);
        line += "}\n";
        std::fputs(line.c_str(), stdout);
    }
    return 0;
}
