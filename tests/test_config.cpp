// The sluiced configuration: durations and sizes, the TOML reader (a complete file read into the model,
// a table of invalid files each with its line:column and message), ${NAME} interpolation with secrets
// kept out of every error and summary, and the mapping of delivery settings onto delivery_options. The
// environment is always a fixed map: nothing here reads or changes the process's.

#include <doctest/doctest.h>

#include <sluice/config/pipeline_config.hpp>
#include <sluice/config/units.hpp>

#if SLUICE_HAS_TOMLPP
#include <sluice/config/summary.hpp>
#include <sluice/config/toml_config.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_config {

using namespace sluice;
using namespace sluice::config;
using namespace std::chrono_literals;

TEST_SUITE("config") {

TEST_CASE("durations name their unit; sizes are bytes or carry a unit") {
    CHECK(parse_duration("200ms") == 200ms);
    CHECK(parse_duration("5s") == 5000ms);
    CHECK(parse_duration("1m") == 60'000ms);
    CHECK(parse_duration("2h") == 7'200'000ms);
    CHECK(parse_duration("0s") == 0ms);
    for (std::string_view bad : {"", "5", "s", "5 s", "-5s", "1.5s", "5sec", "5S", "ms", "99999999999999999999ms",
                                 "9999999999999h"})
        CHECK_MESSAGE(!parse_duration(bad), bad);

    CHECK(parse_size("65536") == 65536u);
    CHECK(parse_size("100B") == 100u);
    CHECK(parse_size("512KiB") == 512u * 1024);
    CHECK(parse_size("64MiB") == 64u << 20);
    CHECK(parse_size("1GiB") == std::uint64_t{1} << 30);
    CHECK(parse_size("2TiB") == std::uint64_t{2} << 40);
    CHECK(parse_size("1GB") == 1'000'000'000u);
    CHECK(parse_size("3KB") == 3000u);
    CHECK(parse_size("4096TiB") == std::uint64_t{1} << 52);
    for (std::string_view bad : {"", "MiB", "64 MiB", "64mib", "64M", "-1", "1.5GiB", "5000000TiB",
                                 "18446744073709551616"})
        CHECK_MESSAGE(!parse_size(bad), bad);
}

TEST_CASE("apply_delivery sets exactly the delivery_options fields the file gave") {
    delivery_config c;
    c.batch.max_events = 10;
    c.batch.max_age = 250ms;
    c.buffer.type = buffer_type::disk;
    c.buffer.policy = when_full::drop_newest;
    c.buffer.disk_directory = config_string{"/var/lib/x", false};
    c.buffer.disk_max_bytes = 12345;
    c.retry.max_attempts = 3;
    c.retry.max_backoff = 9s;
    c.rate.requests_per_second = 42.5;
    c.concurrency.max_in_flight = 2;
    c.concurrency.adaptive = true;

    const delivery_options defaults;
    delivery_options d;
    apply_delivery(c, d);
    CHECK(d.batch.max_events == 10);
    CHECK(d.batch.max_age == 250ms);
    CHECK(d.batch.max_bytes == defaults.batch.max_bytes);
    CHECK(d.buffer.type == buffer_type::disk);
    CHECK(d.buffer.policy == when_full::drop_newest);
    CHECK(d.buffer.max_events == defaults.buffer.max_events);
    REQUIRE(d.disk.has_value());
    CHECK(d.disk->directory == "/var/lib/x");
    CHECK(d.disk->max_bytes == 12345u);
    CHECK(d.retry.max_attempts == 3);
    CHECK(d.retry.max_backoff == 9s);
    CHECK(d.retry.initial_backoff == defaults.retry.initial_backoff);
    CHECK(d.rate.requests_per_second == 42.5);
    CHECK(d.rate.bytes_per_second == defaults.rate.bytes_per_second);
    CHECK(d.concurrency.max_in_flight == 2);
    CHECK(d.concurrency.adaptive);

    delivery_options untouched;
    untouched.batch.max_events = 77;
    apply_delivery(delivery_config{}, untouched);
    CHECK(untouched.batch.max_events == 77);
    CHECK_FALSE(untouched.disk.has_value());
}

#if SLUICE_HAS_TOMLPP

namespace {

aws::env_lookup no_env() { return aws::fixed_environment({}); }

pipeline_config parse_ok(std::string_view text, const aws::env_lookup& env = no_env()) {
    auto r = parse_config(text, "test.toml", env);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + '\n';
    REQUIRE_MESSAGE(r.ok(), all);
    REQUIRE(r.config.has_value());
    return std::move(*r.config);
}

template <class T>
const T& options_of(const pipeline_config& c, std::string_view name) {
    const sink_config* s = c.find_sink(name);
    REQUIRE_MESSAGE(s != nullptr, name);
    REQUIRE_MESSAGE(std::holds_alternative<T>(s->options), name);
    return std::get<T>(s->options);
}

// Every source, every sink type, every delivery setting; each value distinct so a field read into
// the wrong place shows.
constexpr std::string_view complete = R"([sources.api]
type = "http"
address = "0.0.0.0"
port = 8443
queue = "main"
[sources.console]
type = "stdin"
queue = "side"
topic = "console"
[sources.tail]
type = "file"
path = "/var/log/a.ndjson"
from_beginning = true
queue = "main"

[queues.main]
discipline = "priority"
min_consumers = 2
max_consumers = 6
capacity = 5000
[[queues.main.routes]]
by = "broadcast"
sinks = ["archive", "bucket"]
[[queues.main.routes]]
by = "key"
key = "users"
sinks = ["table"]
[[queues.main.routes]]
by = "field"
field = "tenant"
topic = "acme"
sinks = ["logs", "stream"]
[queues.side]
[[queues.side.routes]]
by = "topic"
topic = "console"
sinks = ["q", "hose", "cw", "bus"]

[sinks.q]
type = "sqs"
queue_url = "https://sqs.eu-west-1.amazonaws.com/1/q.fifo"
region = "eu-west-1"
endpoint = "http://127.0.0.1:9324"
fifo = true
content_based_deduplication = true
drop_duplicates = false
dead_letter = "archive"
[sinks.q.batch]
max_events = 10
max_bytes = "256KiB"
max_age = "200ms"
[sinks.q.buffer]
type = "disk"
max_events = 1000
max_bytes = 4096
policy = "overflow"
max_block = "3s"
disk_directory = "/var/lib/q"
disk_max_bytes = "1GiB"
[sinks.q.retry]
max_attempts = 5
initial_backoff = "50ms"
max_backoff = "2m"
max_elapsed = "1h"
[sinks.q.rate]
requests_per_second = 12.5
bytes_per_second = 1000000
[sinks.q.concurrency]
max_in_flight = 3
adaptive = true
[sinks.stream]
type = "kinesis"
stream_arn = "arn:aws:kinesis:eu-west-1:1:stream/s"
order_by_partition_key = true
[sinks.hose]
type = "firehose"
delivery_stream = "hose-1"
newline = true
aggregate = true
[sinks.table]
type = "dynamodb"
table = "users"
partition_key = "pk"
sort_key = "sk"
[sinks.cw]
type = "cloudwatch"
namespace = "Svc"
[sinks.logs]
type = "cloudwatch_logs"
log_group = "/g"
log_stream = "s"
create_missing = true
[sinks.archive]
type = "file"
directory = "/data/archive"
format = "csv"
compression = "zstd"
partition_by = ["tenant", "day"]
journal_directory = "/data/journal"
[sinks.archive.batch]
max_events = 100
max_age = "1m"
[sinks.bucket]
type = "s3"
bucket = "b"
prefix = "events/"
format = "parquet"
compression = "snappy"
key_template = "{name}-{seq}{ext}"
[sinks.bus]
type = "pulsar"
service_url = "pulsar+ssl://broker:6651"
topic = "persistent://t/n/x"
batching = false
compression = "zlib"
[sinks.search]
type = "opensearch"
endpoint = "https://es:9200"
[sinks.hook]
type = "http"
url = "https://hook/in"
)";

} // namespace

TEST_CASE("a complete file is read into the model, every field in its place") {
    const pipeline_config c = parse_ok(complete);
    REQUIRE(c.sources.size() == 3);
    REQUIRE(c.queues.size() == 2);
    REQUIRE(c.sinks.size() == 11);

    const auto& api = c.sources[0];
    CHECK(api.name == "api");
    REQUIRE(std::holds_alternative<http_source>(api.kind));
    CHECK(std::get<http_source>(api.kind).address.value == "0.0.0.0");
    CHECK(std::get<http_source>(api.kind).port == 8443);
    CHECK_FALSE(std::get<http_source>(api.kind).bearer_token.has_value());
    CHECK(api.queue == "main");
    CHECK(c.sources[1].name == "console");
    CHECK(std::holds_alternative<stdin_source>(c.sources[1].kind));
    CHECK(c.sources[1].queue == "side");
    CHECK(c.sources[1].topic == "console");
    REQUIRE(std::holds_alternative<file_source>(c.sources[2].kind));
    CHECK(std::get<file_source>(c.sources[2].kind).path.value == "/var/log/a.ndjson");
    CHECK(std::get<file_source>(c.sources[2].kind).from_beginning);

    const queue_config* main = c.find_queue("main");
    REQUIRE(main != nullptr);
    CHECK(main->discipline == queue_discipline::priority);
    CHECK(main->min_consumers == 2u);
    CHECK(main->max_consumers == 6u);
    CHECK(main->capacity == 5000u);
    REQUIRE(main->routes.size() == 3);
    CHECK(main->routes[0].by == route_kind::broadcast);
    CHECK(main->routes[0].sinks == std::vector<std::string>{"archive", "bucket"});
    CHECK(main->routes[1].by == route_kind::key);
    CHECK(main->routes[1].key == "users");
    CHECK(main->routes[2].by == route_kind::field);
    CHECK(main->routes[2].field == "tenant");
    CHECK(main->routes[2].topic == "acme");
    CHECK(main->routes[2].sinks == std::vector<std::string>{"logs", "stream"});
    const queue_config* side = c.find_queue("side");
    REQUIRE(side != nullptr);
    CHECK(side->discipline == queue_discipline::fifo);
    CHECK_FALSE(side->max_consumers.has_value());
    REQUIRE(side->routes.size() == 1);
    CHECK(side->routes[0].by == route_kind::topic);
    CHECK(side->routes[0].topic == "console");

    const auto& q = options_of<sqs_sink>(c, "q");
    CHECK(q.queue_url.value == "https://sqs.eu-west-1.amazonaws.com/1/q.fifo");
    CHECK_FALSE(q.queue_url.secret);
    CHECK(q.region->value == "eu-west-1");
    CHECK(q.endpoint->value == "http://127.0.0.1:9324");
    CHECK(q.fifo == true);
    CHECK(q.content_based_deduplication);
    CHECK_FALSE(q.drop_duplicates);
    const delivery_config& d = c.find_sink("q")->delivery;
    CHECK(d.dead_letter == "archive");
    CHECK(d.batch.max_events == 10u);
    CHECK(d.batch.max_bytes == 256u * 1024);
    CHECK(d.batch.max_age == 200ms);
    CHECK(d.buffer.type == buffer_type::disk);
    CHECK(d.buffer.max_events == 1000u);
    CHECK(d.buffer.max_bytes == 4096u);
    CHECK(d.buffer.policy == when_full::overflow);
    CHECK(d.buffer.max_block == 3000ms);
    CHECK(d.buffer.disk_directory->value == "/var/lib/q");
    CHECK(d.buffer.disk_max_bytes == std::uint64_t{1} << 30);
    CHECK(d.retry.max_attempts == 5u);
    CHECK(d.retry.initial_backoff == 50ms);
    CHECK(d.retry.max_backoff == 120'000ms);
    CHECK(d.retry.max_elapsed == 3'600'000ms);
    CHECK(d.rate.requests_per_second == 12.5);
    CHECK(d.rate.bytes_per_second == 1e6);
    CHECK(d.concurrency.max_in_flight == 3u);
    CHECK(d.concurrency.adaptive == true);

    const auto& stream = options_of<kinesis_sink>(c, "stream");
    CHECK(stream.stream_name.empty());
    CHECK(stream.stream_arn.value == "arn:aws:kinesis:eu-west-1:1:stream/s");
    CHECK(stream.order_by_partition_key);
    const auto& hose = options_of<firehose_sink>(c, "hose");
    CHECK(hose.delivery_stream.value == "hose-1");
    CHECK(hose.newline);
    CHECK(hose.aggregate);
    const auto& table = options_of<dynamodb_sink>(c, "table");
    CHECK(table.table.value == "users");
    CHECK(table.partition_key.value == "pk");
    CHECK(table.sort_key.value == "sk");
    CHECK(options_of<cloudwatch_sink>(c, "cw").namespace_name.value == "Svc");
    const auto& logs = options_of<cloudwatch_logs_sink>(c, "logs");
    CHECK(logs.log_group.value == "/g");
    CHECK(logs.log_stream.value == "s");
    CHECK(logs.create_missing);
    const auto& archive = options_of<file_sink>(c, "archive");
    CHECK(archive.directory.value == "/data/archive");
    CHECK(archive.format == object_format::csv);
    CHECK(archive.codec == compression::zstd);
    CHECK(archive.partition_by == std::vector<std::string>{"tenant", "day"});
    CHECK(archive.journal_directory->value == "/data/journal");
    CHECK(c.find_sink("archive")->delivery.batch.max_events == 100u);
    CHECK(c.find_sink("archive")->delivery.batch.max_age == 60'000ms);
    const auto& bucket = options_of<s3_sink>(c, "bucket");
    CHECK(bucket.bucket.value == "b");
    CHECK(bucket.prefix->value == "events/");
    CHECK(bucket.format == object_format::parquet);
    CHECK(bucket.codec == compression::snappy);
    CHECK(bucket.key_template == "{name}-{seq}{ext}");
    CHECK_FALSE(bucket.region.has_value());
    const auto& bus = options_of<pulsar_sink>(c, "bus");
    CHECK(bus.service_url.value == "pulsar+ssl://broker:6651");
    CHECK(bus.topic.value == "persistent://t/n/x");
    CHECK(bus.batching == false);
    CHECK(bus.compression_type == pulsar_compression::zlib);

    // Every sink type of the library appears once.
    std::vector<std::string_view> types;
    for (const auto& s : c.sinks) types.push_back(type_name(s));
    std::sort(types.begin(), types.end());
    std::vector<std::string_view> all(std::begin(sink_type_names), std::end(sink_type_names));
    std::sort(all.begin(), all.end());
    CHECK(types == all);
}

TEST_CASE("options left out keep their defaults; the only queue is every source's") {
    const pipeline_config c = parse_ok(R"([sources.in]
type = "http"
port = 9000
[queues.only]
[[queues.only.routes]]
by = "broadcast"
sinks = ["out"]
[sinks.out]
type = "sqs"
queue_url = "https://sqs.example/1/q"
)");
    CHECK(c.sources[0].queue == "only");
    CHECK(std::get<http_source>(c.sources[0].kind).address.value == "127.0.0.1");
    const auto& q = options_of<sqs_sink>(c, "out");
    CHECK_FALSE(q.fifo.has_value());
    CHECK(q.drop_duplicates);
    const delivery_config& d = c.find_sink("out")->delivery;
    CHECK_FALSE(d.batch.max_events.has_value());
    CHECK_FALSE(d.buffer.type.has_value());
    CHECK_FALSE(d.retry.max_attempts.has_value());
    CHECK_FALSE(d.dead_letter.has_value());
}

namespace {

// Lines 1 to 6 of most invalid files below: a source and a queue routing everything to sink "s".
const std::string head = "[sources.in]\ntype = \"stdin\"\n[queues.q]\n[[queues.q.routes]]\nby = \"broadcast\"\nsinks = [\"s\"]\n";

struct invalid_case {
    std::string text;
    std::uint32_t line;
    std::uint32_t column;
    std::string_view message; ///< a substring of the error at line:column
    std::size_t errors;       ///< how many errors the file has in all
};

} // namespace

TEST_CASE("every invalid file is refused with each error at its line and column") {
    const invalid_case cases[] = {
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\nformt = \"csv\"\n", 10, 1,
         "unknown key 'formt' in sink 's'; did you mean 'format'?", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\n", 7, 1, "sink 's' needs 'queue_url' (the queue's URL)", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_ulr = \"https://x/1/q\"\n", 9, 1,
         "unknown key 'queue_ulr' in sink 's'; did you mean 'queue_url'?", 2},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = 42\n", 9, 13,
         "'directory' of sink 's' must be a string, not an integer", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\nformat = \"parqet\"\n", 10, 10,
         "must be one of \"ndjson\", \"csv\", \"parquet\", not \"parqet\"; did you mean \"parquet\"?", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n[sinks.s.batch]\nmax_age = \"5 s\"\n", 11, 11,
         "'max_age' of [batch] of sink 's' must be a duration such as \"200ms\"", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n[sinks.s.batch]\nmax_age = 5\n", 11, 11,
         "must be a duration such as \"200ms\", \"5s\", \"1m\" or \"2h\", not an integer", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n[sinks.s.batch]\nmax_bytes = \"64 MiB\"\n", 11, 13,
         "'max_bytes' of [batch] of sink 's' must be a size in bytes or a string such as", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"${NOPE}\"\n", 9, 13, "environment variable 'NOPE' is not set", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"${1X}\"\n", 9, 13, "'${1X}' is not an environment variable reference", 1},
        {head + "[sinks.s]\ntype = \"kinesys\"\n", 8, 8, "not \"kinesys\"; did you mean \"kinesis\"?", 1},
        {head + "[sinks.s]\ntype = \"kinesis\"\n", 7, 1, "sink 's' needs 'stream_name' (the stream's name, or 'stream_arn')", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"https://x/1/q\"\n[sinks.s.buffer]\ntype = \"disk\"\n", 10, 1,
         "[buffer] of sink 's' needs 'disk_directory'", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\ncompression = \"snappy\"\n", 10, 15,
         "snappy compresses Parquet pages only, not ndjson objects", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n[sinks.s.buffer]\ntype = \"memory\"\n", 10, 1,
         "[buffer] does not apply to sink 's'", 1},
        {head + "[sinks.s]\ntype = \"s3\"\nbucket = \"b\"\n[sinks.s.concurrency]\nmax_in_flight = 2\n", 10, 1,
         "[concurrency] does not apply to sink 's'", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"https://x/1/q\"\n[sinks.s.rate]\nrequests_per_second = -1\n", 11, 23,
         "'requests_per_second' of [rate] of sink 's' must be a number from 0 to 1e15", 1},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\ndead_letter = \"archiv\"\n", 10, 15,
         "sink 's' names sink 'archiv', which is not defined", 1},
        {head + "[sinks.s]\ntype = \"pulsar\"\nservice_url = \"http://broker:6650\"\ntopic = \"t\"\n", 9, 15,
         "'service_url' of sink 's' must start with pulsar:// or pulsar+ssl://", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"https://x/1/q\"\n[sinks.s.retry]\ninitial_backoff = \"5s\"\nmax_backoff = \"1s\"\n",
         12, 15, "'max_backoff' of [retry] of sink 's' is below its initial_backoff", 1},
        {head + "[sinks.s]\ntype = \"sqs\"\nqueue_url = \"https://x/1/q\"\n[sinks.s.retry]\nmax_attempts = 0\n", 11, 16,
         "'max_attempts' of [retry] of sink 's' must be between 1 and 1000, not 0", 1},
        {"[sources.in]\ntype = \"stdin\"\n[queues.q]\n[[queues.q.routes]]\nby = \"broadcast\"\nsinks = [\"s\", \"t\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         6, 15, "route 1 of queue 'q' names sink 't', which is not defined", 1},
        {"[sources.in]\ntype = \"stdin\"\nqueue = \"qq\"\n[queues.q]\n[[queues.q.routes]]\nby = \"broadcast\"\nsinks = [\"s\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         3, 9, "source 'in' names queue 'qq', which is not defined; did you mean 'q'?", 1},
        {"[sources.in]\ntype = \"stdin\"\n[queues.q]\ndiscipline = \"lifp\"\n[[queues.q.routes]]\nby = \"broadcast\"\nsinks = [\"s\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         4, 14, "not \"lifp\"; did you mean \"lifo\"?", 1},
        {"[sources.in]\ntype = \"stdin\"\n[queues.s]\n[[queues.s.routes]]\nby = \"broadcast\"\nsinks = [\"s\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         7, 8, "sink name 's' is already the name of the queue on line 3", 1},
        {"[sources.in]\ntype = \"http\"\nport = \"8080\"\n[queues.q]\n[[queues.q.routes]]\nby = \"broadcast\"\nsinks = [\"s\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         3, 8, "'port' of source 'in' must be an integer, not a string", 1},
        {"[sources.in]\ntype = \"stdin\"\n[queues.q]\nmin_consumers = 5\nmax_consumers = 2\n[[queues.q.routes]]\nby = \"broadcast\"\n"
         "sinks = [\"s\"]\n[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         4, 17, "min_consumers of queue 'q' (5) is above its max_consumers (2)", 1},
        {"[sources.in]\ntype = \"stdin\"\n[queues.q]\n[[queues.q.routes]]\nby = \"field\"\ntopic = \"acme\"\nsinks = [\"s\"]\n"
         "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n",
         4, 1, "route 1 of queue 'q' needs 'field'", 1},
        {head + "[sink.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n", 7, 2,
         "unknown key 'sink' in the file; did you mean 'sinks'?", 3},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\ndead_letter = \"t\"\n[sinks.t]\ntype = \"file\"\n"
                "directory = \"/tmp/y\"\ndead_letter = \"s\"\n",
         10, 15, "the dead letters of sink 's' come back to it (a cycle)", 2},
        {head + "[sinks.s]\ntype = \"file\"\ndirectory = \"/tmp/x\"\n[sinks.s]\n", 10, 1, "invalid TOML:", 1},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto r = parse_config(c.text, "bad.toml", no_env());
        std::string all;
        for (const auto& e : r.errors) all += e.to_string() + '\n';
        CAPTURE(all);
        CHECK_FALSE(r.config.has_value());
        CHECK(r.errors.size() == c.errors);
        bool found = false;
        for (const auto& e : r.errors)
            found = found || (e.line == c.line && e.column == c.column && e.message.find(c.message) != std::string::npos);
        CHECK_MESSAGE(found, c.line, ':', c.column, ": ", c.message);
        for (const auto& e : r.errors) CHECK(e.file == "bad.toml");
    }
}

TEST_CASE("${NAME} reads the environment; such values are secret and never printed") {
    const std::string secret_url = "https://sqs.eu-west-1.amazonaws.com/1/Q-s3cr3t";
    const aws::env_lookup env = aws::fixed_environment(
        {{"QUEUE_URL", secret_url}, {"TOKEN", "tok-s3cr3t"}, {"ADDR", "10.1.2.3"}, {"PART", "s3cr3t"}});
    const std::string text = R"([sources.in]
type = "http"
address = "${ADDR}"
port = 8080
bearer_token = "${TOKEN}"
[queues.q]
[[queues.q.routes]]
by = "broadcast"
sinks = ["out", "bus"]
[sinks.out]
type = "sqs"
queue_url = "${QUEUE_URL}"
region = "literal-$$-${PART}-end"
[sinks.bus]
type = "pulsar"
service_url = "pulsar://127.0.0.1:6650"
topic = "costs $$5"
auth_token = "${TOKEN}"
)";
    const pipeline_config c = parse_ok(text, env);
    const auto& h = std::get<http_source>(c.sources[0].kind);
    CHECK(h.address.value == "10.1.2.3");
    CHECK(h.address.secret);
    CHECK(h.bearer_token->value == "tok-s3cr3t");
    const auto& q = options_of<sqs_sink>(c, "out");
    CHECK(q.queue_url.value == secret_url);
    CHECK(q.queue_url.secret);
    CHECK(q.queue_url.shown() == "<secret>");
    CHECK(q.region->value == "literal-$-s3cr3t-end");
    CHECK(q.region->secret);
    const auto& bus = options_of<pulsar_sink>(c, "bus");
    CHECK(bus.topic.value == "costs $5");
    CHECK_FALSE(bus.topic.secret);
    CHECK(bus.service_url.shown() == "pulsar://127.0.0.1:6650");
    CHECK(bus.auth_token->secret);

    const std::string summary = describe(c);
    CHECK(summary.find("s3cr3t") == std::string::npos);
    CHECK(summary.find("10.1.2.3") == std::string::npos);
    CHECK(summary.find("source in: http on <secret>:8080 (bearer token) -> queue q") != std::string::npos);
    CHECK(summary.find("sink out: sqs") != std::string::npos);
    CHECK(summary.find("sink bus: pulsar") != std::string::npos);

    // Errors about interpolated values never quote them, whatever is wrong with them.
    const aws::env_lookup bad_env = aws::fixed_environment({{"QUEUE_URL", "ftp://s3cr3t"}, {"NS", "AWS/s3cr3t"}});
    const std::string bad = R"([sources.in]
type = "stdin"
[queues.q]
[[queues.q.routes]]
by = "broadcast"
sinks = ["out", "cw"]
[sinks.out]
type = "sqs"
queue_url = "${QUEUE_URL}"
[sinks.cw]
type = "cloudwatch"
namespace = "${NS}"
region = "${MISSING_s3cr3t}"
)";
    const auto r = parse_config(bad, "bad.toml", bad_env);
    REQUIRE(r.errors.size() == 3);
    CHECK(r.errors[0].line == 9);
    CHECK(r.errors[0].message.find("must be an http:// or https:// URL") != std::string::npos);
    CHECK(r.errors[1].line == 12);
    CHECK(r.errors[1].message.find("must not start with \"AWS/\"") != std::string::npos);
    CHECK(r.errors[2].line == 13);
    CHECK(r.errors[2].message.find("environment variable 'MISSING_s3cr3t' is not set") != std::string::npos);
    for (const auto& e : r.errors) {
        CHECK(e.message.find("ftp://") == std::string::npos);
        CHECK(e.message.find("AWS/s3cr3t") == std::string::npos);
    }
}

TEST_CASE("opensearch and http sinks: every option in its place, secrets kept secret, each error where it is written") {
    const aws::env_lookup env = aws::fixed_environment({{"PASS", "pw-s3cr3t"}, {"TOKEN", "tok-s3cr3t"}});
    const pipeline_config c = parse_ok(head + R"([sinks.s]
type = "opensearch"
endpoint = "https://search:9200/prefix"
index = "logs-{service}-%Y.%m.%d"
action = "create"
id_field = "event_id"
timestamp_field = "@timestamp"
username = "writer"
password = "${PASS}"
gzip = true
max_actions = 250
max_request_bytes = "2MiB"
max_record_bytes = 65536
timeout = "15s"
dead_letter = "h"
[sinks.h]
type = "http"
url = "http://collector/in/{key}"
method = "PUT"
framing = "json_array"
compression = "zstd"
max_records = 50
timeout = "2s"
[sinks.h.headers]
Authorization = "Bearer ${TOKEN}"
X-Source = "sluiced"
[sinks.h.retry]
max_attempts = 3
)", env);
    const auto& os = options_of<opensearch_sink_config>(c, "s");
    CHECK(os.endpoint.value == "https://search:9200/prefix");
    CHECK(os.index == "logs-{service}-%Y.%m.%d");
    CHECK(os.create);
    CHECK(os.id_field == "event_id");
    CHECK(os.timestamp_field == "@timestamp");
    CHECK(os.username->value == "writer");
    CHECK(os.password->value == "pw-s3cr3t");
    CHECK(os.password->secret);
    CHECK_FALSE(os.bearer_token.has_value());
    CHECK(os.gzip);
    CHECK(os.max_actions == 250u);
    CHECK(os.max_request_bytes == 2u << 20);
    CHECK(os.max_record_bytes == 65536u);
    CHECK(os.timeout == 15s);
    CHECK(c.find_sink("s")->delivery.dead_letter == "h");
    const auto& h = options_of<http_sink_config>(c, "h");
    CHECK(h.url.value == "http://collector/in/{key}");
    CHECK(h.method == "PUT");
    CHECK(h.framing == http_body_framing::json_array);
    CHECK(h.body_compression == compression::zstd);
    CHECK(h.max_records == 50u);
    CHECK(h.timeout == 2s);
    REQUIRE(h.headers.size() == 2);
    CHECK(h.headers[0].first == "Authorization");
    CHECK(h.headers[0].second.value == "Bearer tok-s3cr3t");
    CHECK(h.headers[0].second.secret);
    CHECK(h.headers[1].first == "X-Source");
    CHECK_FALSE(h.headers[1].second.secret);
    CHECK(c.find_sink("h")->delivery.retry.max_attempts == 3u);
    const std::string summary = describe(c);
    CHECK(summary.find("sink s: opensearch (index 'logs-{service}-%Y.%m.%d', create)") != std::string::npos);
    CHECK(summary.find("sink h: http (PUT, json_array)") != std::string::npos);
    CHECK(summary.find("s3cr3t") == std::string::npos);

    // Defaults: index "logs", action index, POST, NDJSON, no compression, the sinks' own limits.
    const pipeline_config d = parse_ok(head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es:9200\"\n"
                                              "[sinks.t]\ntype = \"http\"\nurl = \"http://x/\"\n");
    CHECK(options_of<opensearch_sink_config>(d, "s").index == "logs");
    CHECK_FALSE(options_of<opensearch_sink_config>(d, "s").create);
    CHECK_FALSE(options_of<opensearch_sink_config>(d, "s").max_actions.has_value());
    CHECK(options_of<http_sink_config>(d, "t").method == "POST");
    CHECK(options_of<http_sink_config>(d, "t").framing == http_body_framing::ndjson);
    CHECK(options_of<http_sink_config>(d, "t").body_compression == compression::none);

    const invalid_case cases[] = {
        {head + "[sinks.s]\ntype = \"opensearch\"\n", 7, 1, "sink 's' needs 'endpoint'", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"es:9200\"\n", 9, 12,
         "'endpoint' of sink 's' must be an http:// or https:// URL", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nindex = \"logs-{service\"\n", 10, 9,
         "'index' of sink 's': index template \"logs-{service\": '{' must enclose a field name", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nindex = \"Logs-%Y\"\n", 10, 9,
         "index names are lower case", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nindex = \"logs-%y\"\n", 10, 9,
         "only %Y %m %d %H and %% are known", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\naction = \"update\"\n", 10, 10,
         "'action' of sink 's' must be one of \"index\", \"create\"", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nusername = \"u\"\npassword = \"p\"\nbearer_token = \"t\"\n",
         12, 16, "takes username and password, or bearer_token, not both", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nusername = \"u\"\n", 7, 1,
         "sink 's' needs 'password' (basic authentication needs both)", 1},
        {head + "[sinks.s]\ntype = \"opensearch\"\nendpoint = \"http://es\"\nmax_actions = 0\n", 10, 15, "'max_actions' of sink 's'", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"ftp://x/\"\n", 9, 7, "'url' of sink 's' must be an http:// or https:// URL", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\nmethod = \"GET\"\n", 10, 10,
         "'method' of sink 's' must be one of \"POST\", \"PUT\"", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\nframing = \"ndjsn\"\n", 10, 11, "did you mean \"ndjson\"?", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\ncompression = \"lz4\"\n", 10, 15,
         "must be one of \"none\", \"gzip\", \"zstd\"", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\n[sinks.s.headers]\nX-Key = 42\n", 11, 9,
         "header 'X-Key' in [headers] of sink 's' must be a string", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\n[sinks.s.headers]\n\"Bad Name\" = \"v\"\n", 11, 1,
         "header name 'Bad Name' in [headers] of sink 's' is not an HTTP token", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\n[sinks.s.headers]\nX-Key = \"a\\nb\"\n", 11, 9,
         "header 'X-Key' in [headers] of sink 's' has a line break", 1},
        {head + "[sinks.s]\ntype = \"http\"\nurl = \"http://x/\"\nmax_record = 5\n", 10, 1,
         "unknown key 'max_record' in sink 's'; did you mean 'max_records'?", 1},
    };
    for (const auto& ic : cases) {
        CAPTURE(ic.text);
        const auto r = parse_config(ic.text, "bad.toml", no_env());
        std::string all;
        for (const auto& e : r.errors) all += e.to_string() + '\n';
        CAPTURE(all);
        CHECK_FALSE(r.config.has_value());
        CHECK(r.errors.size() == ic.errors);
        bool found = false;
        for (const auto& e : r.errors)
            found = found || (e.line == ic.line && e.column == ic.column && e.message.find(ic.message) != std::string::npos);
        CHECK_MESSAGE(found, ic.line, ':', ic.column, ": ", ic.message);
    }
}

TEST_CASE("the example configuration (examples/sluiced.toml) is valid and defines every sink type") {
    const std::filesystem::path example =
        std::filesystem::path(SLUICE_TEST_DATA_DIR).parent_path().parent_path() / "examples" / "sluiced.toml";
    const aws::env_lookup env = aws::fixed_environment(
        {{"SLUICED_TOKEN", "t"}, {"ORDERS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/orders"}, {"PULSAR_TOKEN", "p"},
         {"OPENSEARCH_PASSWORD", "o"}, {"WEBHOOK_TOKEN", "w"}});
    const auto r = load_config(example, env);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + '\n';
    REQUIRE_MESSAGE(r.ok(), all);
    std::vector<std::string_view> types;
    for (const auto& s : r.config->sinks) types.push_back(type_name(s));
    for (auto t : sink_type_names) CHECK_MESSAGE(std::find(types.begin(), types.end(), t) != types.end(), t);

    const auto missing = load_config(example.parent_path() / "no-such-file.toml", env);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].line == 1);
    CHECK(missing.errors[0].message.find("cannot read the file") != std::string::npos);
}

#endif // SLUICE_HAS_TOMLPP

} // TEST_SUITE

} // namespace test_config
