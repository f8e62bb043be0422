// Replays every fuzz target's seed corpus (fuzz/corpus/<target>/) and the reproducers of the defects
// fuzzing found (fuzz/regressions/<target>/) as ordinary tests, so every preset (dev, clang, asan,
// tsan) checks them without libFuzzer. A failed check throws here (it aborts under libFuzzer).

#include <doctest/doctest.h>

#include "../fuzz/targets.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_fuzz_regressions {

namespace {

namespace fs = std::filesystem;

fs::path fuzz_dir() { return fs::path(SLUICE_TEST_DATA_DIR).parent_path().parent_path() / "fuzz"; }

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_SUITE("fuzz") {

TEST_CASE("every seed and every regression input of every fuzz target replays cleanly") {
    REQUIRE(fs::is_directory(fuzz_dir()));
    REQUIRE(!sluice_fuzz::registry().empty());
    std::size_t inputs = 0;
    for (const auto& target : sluice_fuzz::registry()) {
        const std::string name = target.name;
        CAPTURE(name);
        const auto seeds = files_in(fuzz_dir() / "corpus" / target.name);
        CHECK_MESSAGE(!seeds.empty(), "no seed corpus for ", target.name);
        std::vector<fs::path> all = seeds;
        const auto regressions = files_in(fuzz_dir() / "regressions" / target.name);
        all.insert(all.end(), regressions.begin(), regressions.end());
        for (const auto& file : all) {
            CAPTURE(file.string());
            const auto bytes = read_bytes(file);
            CHECK_NOTHROW(target.run(sluice_fuzz::input(bytes.data(), bytes.size())));
            ++inputs;
        }
    }
    MESSAGE(inputs, " inputs of ", sluice_fuzz::registry().size(), " targets replayed");
}

TEST_CASE("every corpus and regression directory belongs to a registered target") {
    for (const char* kind : {"corpus", "regressions"}) {
        const fs::path dir = fuzz_dir() / kind;
        if (!fs::is_directory(dir)) continue;
        for (const auto& e : fs::directory_iterator(dir)) {
            if (!e.is_directory()) continue;
            const std::string name = e.path().filename().string();
            const bool known = std::any_of(sluice_fuzz::registry().begin(), sluice_fuzz::registry().end(),
                                           [&](const auto& t) { return name == t.name; });
            CHECK_MESSAGE(known, kind, "/", name, " has no target in fuzz/targets.hpp");
        }
    }
}

} // TEST_SUITE

} // namespace test_fuzz_regressions
