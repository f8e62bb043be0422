#pragma once

// Reads a sluiced configuration file (TOML, through toml++) into a pipeline_config, checking it all:
// every error is collected (not only the first) with its line and column and what was expected.
// Unknown keys (with the closest known spelling), wrong types, options a sink type requires, bad
// enumeration values, durations and sizes, references to sinks or queues that do not exist, names
// used twice. String option values may hold `${NAME}` (environment variables, for secrets): a
// variable that is not set is an error naming it, and an interpolated value is marked secret and is
// never printed. The file's layout is documented in examples/sluiced.toml.
//
// Needs toml++ 3 (SLUICE_HAS_TOMLPP); nothing else in sluice includes it.

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include <sluice/aws/config.hpp>
#include <sluice/config/config_error.hpp>
#include <sluice/config/detail/sink_reader.hpp>
#include <sluice/config/detail/toml_reader.hpp>
#include <sluice/config/pipeline_config.hpp>

namespace sluice::config {

/// What reading a configuration gave: the model when there was no error, else every error in file order.
struct config_result {
    std::optional<pipeline_config> config{}; ///< set exactly when `errors` is empty
    std::vector<config_error> errors{};      ///< sorted by line and column

    /// True when the file is valid.
    [[nodiscard]] bool ok() const noexcept { return errors.empty(); }
};

namespace detail {

/// The names of one top-level section ([sources], [queues], [sinks]), in name order.
struct section {
    std::string_view kind;                  ///< "source", "queue" or "sink"
    const toml::table* table = nullptr;     ///< the section, if the file has it
    std::vector<std::string_view> names{};  ///< its entries' names
};

/// Checks every name's spelling and that no name is used twice across the sections.
inline void check_names(std::span<section> sections, reader_context& ctx) {
    std::map<std::string_view, std::pair<std::string_view, std::uint32_t>> seen;
    for (auto& s : sections) {
        if (!s.table) continue;
        for (auto&& [key, node] : *s.table) {
            const std::string_view name = key.str();
            s.names.push_back(name);
            const bool valid = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            });
            if (!valid)
                ctx.error(key.source().begin, std::string(s.kind) + " name '" + std::string(name) +
                                                  "' must be 1 to 64 letters, digits, '_' or '-'");
            const auto [it, fresh] = seen.emplace(name, std::pair{s.kind, key.source().begin.line});
            if (!fresh)
                ctx.error(key.source().begin, std::string(s.kind) + " name '" + std::string(name) +
                                                  "' is already the name of the " + std::string(it->second.first) +
                                                  " on line " + std::to_string(it->second.second));
            (void)node;
        }
    }
}

/// One [[queues.NAME.routes]] entry.
inline route_config read_route(table_reader& r, std::span<const std::string_view> sinks) {
    static constexpr choice<route_kind> kinds[] = {
        {"key", route_kind::key}, {"topic", route_kind::topic}, {"broadcast", route_kind::broadcast}, {"field", route_kind::field}};
    route_config route;
    if (!r.table().contains("by")) r.missing("by", "\"key\", \"topic\", \"broadcast\" or \"field\"");
    route.by = r.one_of<route_kind>("by", kinds).value_or(route_kind::broadcast);
    const bool needs_topic = route.by == route_kind::topic || route.by == route_kind::field;
    if (route.by == route_kind::key) route.key = r.required_string("key", "the key records are sent with").value;
    if (needs_topic) route.topic = r.required_string("topic", "the topic to match").value;
    if (route.by == route_kind::field) route.field = r.required_string("field", "the record field holding the topic").value;
    if (!r.table().contains("sinks")) r.missing("sinks", "an array of sink names");
    route.sinks = r.names("sinks").value_or(std::vector<std::string>{});
    const toml::array* listed = r.table().get_as<toml::array>("sinks");
    if (listed && listed->empty()) r.context().error(*listed, "'sinks' of " + r.what() + " must name at least one sink");
    for (std::size_t i = 0; i < route.sinks.size(); ++i) {
        const toml::node& node = *listed->get(i);
        check_reference(route.sinks[i], sinks, "sink", node, r.what(), r.context());
        if (std::find(route.sinks.begin(), route.sinks.begin() + static_cast<std::ptrdiff_t>(i), route.sinks[i]) !=
            route.sinks.begin() + static_cast<std::ptrdiff_t>(i))
            r.context().error(node, r.what() + " lists sink '" + route.sinks[i] + "' twice");
    }
    r.finish();
    return route;
}

/// One [queues.NAME] table.
inline queue_config read_queue(std::string_view name, const toml::table& t, std::span<const std::string_view> sinks,
                               reader_context& ctx) {
    static constexpr choice<queue_discipline> disciplines[] = {
        {"fifo", queue_discipline::fifo}, {"lifo", queue_discipline::lifo}, {"priority", queue_discipline::priority}};
    table_reader r(t, "queue '" + std::string(name) + "'", ctx);
    queue_config q;
    q.name = name;
    q.discipline = r.one_of<queue_discipline>("discipline", disciplines).value_or(queue_discipline::fifo);
    q.min_consumers = r.count("min_consumers");
    q.max_consumers = r.count("max_consumers", 1);
    q.capacity = r.count("capacity");
    if (q.min_consumers && q.max_consumers && *q.min_consumers > *q.max_consumers)
        ctx.error(*t.get("min_consumers"), "min_consumers of " + r.what() + " (" + std::to_string(*q.min_consumers) +
                                               ") is above its max_consumers (" + std::to_string(*q.max_consumers) + ")");
    const toml::node* routes = r.take("routes");
    if (!routes) {
        r.missing("routes", "at least one [[queues." + std::string(name) + ".routes]]");
    } else if (!routes->is_array_of_tables() || routes->as_array()->empty()) {
        r.wrong(*routes, "routes", "an array of tables ([[queues." + std::string(name) + ".routes]])");
    } else {
        std::size_t i = 0;
        for (const toml::node& route : *routes->as_array()) {
            table_reader rr(*route.as_table(), "route " + std::to_string(++i) + " of " + r.what(), ctx);
            q.routes.push_back(read_route(rr, sinks));
        }
    }
    r.finish();
    return q;
}

/// One [sources.NAME] table.
inline source_config read_source(std::string_view name, const toml::table& t, std::span<const std::string_view> queues,
                                 reader_context& ctx) {
    table_reader r(t, "source '" + std::string(name) + "'", ctx);
    source_config s;
    s.name = name;
    const auto type = r.name("type");
    if (!t.contains("type")) r.missing("type", "\"http\", \"stdin\" or \"file\"");
    if (type == "http") {
        http_source h;
        if (auto a = r.string("address")) h.address = std::move(*a);
        if (!t.contains("port")) r.missing("port", "the TCP port to listen on");
        h.port = static_cast<std::uint16_t>(r.integer("port", 1, 65535).value_or(0));
        h.bearer_token = r.string("bearer_token");
        s.kind = std::move(h);
    } else if (type == "stdin") {
        s.kind = stdin_source{};
    } else if (type == "file") {
        file_source f;
        f.path = r.required_string("path", "the file to tail");
        f.from_beginning = r.boolean("from_beginning").value_or(false);
        s.kind = std::move(f);
    } else if (type) {
        static constexpr std::string_view types[] = {"http", "stdin", "file"};
        const std::string_view guess = closest(*type, types);
        ctx.error(*t.get("type"), "'type' of " + r.what() + " must be one of \"http\", \"stdin\", \"file\", not \"" +
                                      type->substr(0, 40) + '"' +
                                      (guess.empty() ? std::string() : "; did you mean \"" + std::string(guess) + "\"?"));
    }
    s.topic = r.name("topic");
    if (auto q = r.name("queue")) {
        if (check_reference(*q, queues, "queue", *t.get("queue"), r.what(), ctx)) s.queue = *q;
    } else if (queues.size() == 1) {
        s.queue = queues.front();
    } else if (!queues.empty()) {
        r.missing("queue", "the queue its records go to: the file has more than one");
    }
    r.finish();
    return s;
}

/// Reads every section of a parsed file.
inline pipeline_config read_document(const toml::table& root, reader_context& ctx) {
    table_reader top(root, "the file", ctx);
    std::array<section, 3> sections{{{"source", top.subtable("sources")},
                                     {"queue", top.subtable("queues")},
                                     {"sink", top.subtable("sinks")}}};
    top.finish();
    check_names(sections, ctx);
    pipeline_config c;
    const auto entries = [&](const section& s, auto&& read) {
        for (auto&& [key, node] : *s.table) {
            if (node.is_table()) read(key.str(), *node.as_table());
            else ctx.error(node, std::string(s.kind) + " '" + std::string(key.str()) + "' must be a table, not " +
                                     std::string(type_of(node)));
        }
    };
    if (sections[2].table)
        entries(sections[2], [&](std::string_view n, const toml::table& t) { c.sinks.push_back(read_sink(n, t, sections[2].names, ctx)); });
    if (sections[1].table)
        entries(sections[1], [&](std::string_view n, const toml::table& t) { c.queues.push_back(read_queue(n, t, sections[2].names, ctx)); });
    if (sections[0].table)
        entries(sections[0], [&](std::string_view n, const toml::table& t) { c.sources.push_back(read_source(n, t, sections[1].names, ctx)); });
    if (sections[0].names.empty()) ctx.error(root.source().begin, "the file defines no source ([sources.NAME])");
    if (!sections[0].names.empty() && sections[1].names.empty())
        ctx.error(root.source().begin, "the file defines sources but no queue for them ([queues.NAME])");
    if (sections[2].names.empty()) ctx.error(root.source().begin, "the file defines no sink ([sinks.NAME])");
    check_dead_letter_cycles(c, sections[2].table, ctx);
    return c;
}

/// Parses `text` (named `file` in errors) and reads it.
inline config_result read_text(std::string_view text, std::string file, const aws::env_lookup& env) {
    config_result out;
    reader_context ctx(file, out.errors, env);
    try {
        const toml::table root = toml::parse(text, file);
        pipeline_config c = read_document(root, ctx);
        if (out.errors.empty()) out.config = std::move(c);
    } catch (const toml::parse_error& e) {
        ctx.error(e.source().begin, "invalid TOML: " + std::string(e.description()));
    }
    std::stable_sort(out.errors.begin(), out.errors.end(), [](const config_error& a, const config_error& b) {
        return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    return out;
}

} // namespace detail

/// Reads a configuration from `text`; errors name `file` (the name it is known by).
[[nodiscard]] inline config_result parse_config(std::string_view text, std::string file = "<config>",
                                                const aws::env_lookup& env = aws::process_environment()) {
    return detail::read_text(text, std::move(file), env);
}

/// Reads the configuration file at `path` (an unreadable file is one error at 1:1).
[[nodiscard]] inline config_result load_config(const std::filesystem::path& path,
                                               const aws::env_lookup& env = aws::process_environment()) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    std::FILE* f = ec ? nullptr : std::fopen(path.c_str(), "rb");
    if (!f) {
        config_result out;
        out.errors.push_back({path.string(), 1, 1, "cannot read the file: " + (ec ? ec.message() : std::string(std::strerror(errno)))});
        return out;
    }
    std::string text(static_cast<std::size_t>(bytes), '\0');
    const std::size_t got = std::fread(text.data(), 1, text.size(), f);
    std::fclose(f);
    text.resize(got);
    return detail::read_text(text, path.string(), env);
}

} // namespace sluice::config
