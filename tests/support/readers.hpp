#pragma once

// The independent readers of the integration tests (DuckDB and hyparquet through tests/readers/read.mjs,
// installed by scripts/format-readers.sh; ctest points SLUICE_FORMAT_READERS_DIR there): a plan of
// queries run by one node process, and the answers.

#include <doctest/doctest.h>

#include <simdjson.h>

#include <sluice/sinks/ndjson_file.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace sluice_test {

namespace fs = std::filesystem;

inline void write_file(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
}

inline std::string json_quoted(std::string_view s) {
    std::string out;
    sluice::ndjson_append_string(out, s);
    return out;
}

inline std::string shell_quoted(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// The queries of one test case, run by one node process.
class reader_plan {
public:
    void duckdb(const std::string& id, const std::string& sql) { add(id, "duckdb", sql); }
    void hyparquet(const std::string& id, const fs::path& file) { add(id, "hyparquet", file.string()); }

    /// Runs the plan; REQUIREs that every query answered.
    void run(const fs::path& dir) {
        const char* readers = std::getenv("SLUICE_FORMAT_READERS_DIR");
        REQUIRE_MESSAGE(readers != nullptr, "SLUICE_FORMAT_READERS_DIR is not set: run these tests through ctest "
                                            "(its fixture installs the readers with scripts/format-readers.sh)");
        const fs::path plan = dir / "plan.json", out = dir / "answers.json", err = dir / "reader.log";
        write_file(plan, "[" + text_ + "]");
        const std::string command = "node " + shell_quoted((fs::path(readers) / "read.mjs").string()) + " " +
                                    shell_quoted(plan.string()) + " > " + shell_quoted(out.string()) + " 2> " +
                                    shell_quoted(err.string());
        const int rc = std::system(command.c_str());
        std::ifstream log(err);
        std::stringstream why;
        why << log.rdbuf();
        REQUIRE_MESSAGE(rc == 0, "node read.mjs failed: " << why.str());
        answers_ = simdjson::padded_string::load(out.string()).value();
        REQUIRE(parser_.parse(answers_).get(root_) == simdjson::SUCCESS);
    }

    /// One query's answer; REQUIREs that it has no error.
    simdjson::dom::object answer(const std::string& id) {
        simdjson::dom::object o;
        REQUIRE_MESSAGE(root_[id].get_object().get(o) == simdjson::SUCCESS, "no answer for " << id);
        std::string_view error;
        if (o["error"].get_string().get(error) == simdjson::SUCCESS) FAIL(id << ": " << error);
        return o;
    }

    simdjson::dom::array rows(const std::string& id) { return answer(id)["rows"].get_array().value(); }

private:
    void add(const std::string& id, const char* engine, const std::string& what) {
        if (!text_.empty()) text_ += ",";
        text_ += "{\"id\":" + json_quoted(id) + ",\"" + engine + "\":" + json_quoted(what) + "}";
    }
    std::string text_;
    simdjson::padded_string answers_;
    simdjson::dom::parser parser_;
    simdjson::dom::element root_;
};

} // namespace sluice_test
