#pragma once

// Helpers of the object engine tests: scratch directories, reading back the files an engine wrote,
// and records with ids.

#include <doctest/doctest.h>

#include <sluice/objects/engine.hpp>
#include <sluice/objects/local_directory.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <stdlib.h>

namespace sluice_test {

namespace fs = std::filesystem;

/// A fresh directory under /tmp, removed with everything in it at scope exit.
struct scratch {
    fs::path path;
    explicit scratch(const char* what = "objects") {
        std::string tmpl = std::string("/tmp/sluice-") + what + "-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    fs::path operator/(const std::string& name) const { return path / name; }
};

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Every regular file below `root` (staging folders left out), by path relative to it.
inline std::map<std::string, std::string> files_below(const fs::path& root) {
    std::map<std::string, std::string> out;
    if (!fs::exists(root)) return out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        const std::string rel = fs::relative(e.path(), root).string();
        if (rel.rfind(".sluice-staging", 0) == 0) continue;
        out[rel] = slurp(e.path());
    }
    return out;
}

/// The lines of `text` (without their '\n').
inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

/// A record with an id, a partition field and some text.
inline std::string id_record(int id, const std::string& region = "eu") {
    return "{\"id\":" + std::to_string(id) + ",\"region\":\"" + region + "\",\"text\":\"record " + std::to_string(id) + "\"}";
}

/// The "id" of an NDJSON line written from id_record (-1 when it has none).
inline int id_of(const std::string& line) {
    const auto at = line.find("\"id\":");
    if (at == std::string::npos) return -1;
    return std::atoi(line.c_str() + at + 5);
}

/// Engine options for a local test: NDJSON, everything in `dir`.
inline sluice::objects::object_engine_options local_engine_options(const fs::path& dir) {
    sluice::objects::object_engine_options o;
    o.name = "t";
    o.directory = dir / "state";
    o.close.max_age = std::chrono::milliseconds(0);
    o.close.max_records = 0;
    o.close.max_bytes = 0;
    o.journal.fsync = sluice::fsync_policy::every_batch;
    return o;
}

} // namespace sluice_test
