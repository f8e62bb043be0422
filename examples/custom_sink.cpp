// A sink adapter of your own: the delivery engine batches, buffers, retries and acknowledges; the
// adapter below only knows its destination (an NDJSON file, through sluice's ndjson_file_writer) and
// answers per entry how it went. A record the destination cannot take (a raw newline would break the
// file's framing) is refused as the sender's fault and never retried; a failed write is retryable.
// The program delivers N records plus one bad one, reads the file back and exits non-zero unless every
// good record is in it exactly once and the bad one was refused.
//
//   custom_sink [--count N] [--file PATH]

#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/sinks/ndjson_file.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace sluice;

namespace {

/// Appends each batch to an NDJSON file and acknowledges it once written. Runs on the pipeline's loop
/// (the engine calls send() there), so it needs no locking.
class ndjson_file_sink {
public:
    ndjson_file_sink(io_loop& loop, std::filesystem::path path) : loop_(&loop), path_(std::move(path)) {}

    /// The engine never builds a batch or accepts a record beyond these (overridable per pipeline).
    [[nodiscard]] sink_limits limits() const { return {.max_batch_entries = 1000, .max_batch_bytes = 4u << 20,
                                                        .max_record_bytes = 64u << 10}; }

    /// One request: buffer every record the file can take, write them with one system call, answer.
    task<batch_result> send(sink_batch batch) {
        if (!writer_ || writer_->failed()) co_await reopen();
        batch_result result;
        bool any_refused = false;
        result.entries.reserve(batch.records.size());
        for (std::string_view record : batch.records) {
            try {
                writer_->buffer(record);
                result.entries.push_back(outcome::ok());
            } catch (const std::invalid_argument& e) { // empty or a raw newline: nothing was buffered
                result.entries.push_back(outcome::reject(e.what()));
                any_refused = true;
            }
        }
        try {
            co_await writer_->flush();
        } catch (const std::system_error& e) {
            // Part of the batch may be in the file: a retry gives at-least-once, which is what a file
            // sink can promise. The next send() opens a fresh writer.
            auto why = outcome::retry(std::string("write failed: ") + e.what());
            why.code = e.code();
            co_return batch_result::failed(std::move(why));
        }
        if (!any_refused) result.entries.clear(); // empty entries: every record acknowledged
        co_return result;
    }

    task<void> close() {
        if (writer_) co_await writer_->close();
    }

private:
    task<void> reopen() {
        if (writer_) co_await writer_->close();
        writer_ = std::make_unique<ndjson_file_writer>(*loop_, path_, ndjson_file_options{.flush_threshold = 0});
        co_await writer_->open();
    }

    io_loop* loop_;
    std::filesystem::path path_;
    std::unique_ptr<ndjson_file_writer> writer_;
};

static_assert(sink_adapter<ndjson_file_sink>);

} // namespace

int main(int argc, char** argv) {
    std::size_t count = 2000;
    std::filesystem::path file = std::filesystem::temp_directory_path() / "sluice-custom-sink.ndjson";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--count") count = std::strtoull(argv[i + 1], nullptr, 10);
        else if (flag == "--file") file = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: custom_sink [--count N] [--file PATH]\n");
            return 2;
        }
    }
    std::filesystem::remove(file);

    io_loop loop;
    ndjson_file_sink sink(loop, file);
    delivery_options o;
    o.name = "file";
    o.batch.max_age = std::chrono::milliseconds(10);
    delivery_pipeline<ndjson_file_sink> pipeline(loop, sink, o);

    std::size_t acknowledged = 0, refused = 0;
    auto deliver_one = [&](std::string record) -> task<void> {
        try {
            co_await pipeline.deliver(std::move(record));
            ++acknowledged;
        } catch (const delivery_error& e) {
            ++refused;
            std::printf("refused (%s, %u attempt%s): %s\n", std::string(to_string(e.kind())).c_str(), e.attempts(),
                        e.attempts() == 1 ? "" : "s", e.what());
        }
    };
    auto run = [&]() -> task<delivery_report> {
        co_await pipeline.start();
        async_scope senders; // every record awaited concurrently, so batches fill
        for (std::size_t id = 0; id < count; ++id) senders.spawn(deliver_one("{\"id\":" + std::to_string(id) + "}"));
        senders.spawn(deliver_one("{\"id\":\n\"broken\"}"));
        co_await senders.join();
        auto report = co_await pipeline.stop(std::chrono::seconds(5));
        co_await sink.close();
        co_return report;
    };
    const delivery_report report = loop.run_until_complete(run());

    std::vector<unsigned> seen(count, 0);
    std::size_t lines = 0, unknown = 0;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line); ++lines) {
        const std::size_t id = std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10);
        if (line.rfind("{\"id\":", 0) == 0 && id < count) ++seen[id];
        else ++unknown;
    }
    std::size_t missing = 0, duplicated = 0;
    for (auto n : seen) {
        missing += n == 0;
        duplicated += n > 1;
    }
    const auto stats = pipeline.stats();
    std::printf("records %zu: acknowledged %zu, refused %zu; %llu requests in %llu batches\n", count + 1, acknowledged,
                refused, static_cast<unsigned long long>(stats.requests), static_cast<unsigned long long>(stats.batches));
    std::printf("file %s: %zu lines, %zu missing, %zu duplicated, %zu unknown\n", file.c_str(), lines, missing,
                duplicated, unknown);
    std::filesystem::remove(file);
    const bool ok = acknowledged == count && refused == 1 && missing == 0 && duplicated == 0 && unknown == 0 &&
                    report.drained;
    return ok ? 0 : 1;
}
