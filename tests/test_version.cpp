#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include <string>

// Defined in odr_second_tu.cpp.
namespace sluice_odr_check {
const char* second_tu_version();
}

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_version {

TEST_CASE("version: version_string matches the SLUICE_VERSION_* numbers") {
    const std::string expected = std::to_string(SLUICE_VERSION_MAJOR) + "." +
                                 std::to_string(SLUICE_VERSION_MINOR) + "." +
                                 std::to_string(SLUICE_VERSION_PATCH);
    CHECK(std::string(sluice::version_string) == expected);
    CHECK(std::string(SLUICE_VERSION_STRING) == expected);
    CHECK(sluice::version_major == SLUICE_VERSION_MAJOR);
    CHECK(sluice::version_minor == SLUICE_VERSION_MINOR);
    CHECK(sluice::version_patch == SLUICE_VERSION_PATCH);
}

TEST_CASE("version: the second translation unit sees the same version") {
    CHECK(std::string(::sluice_odr_check::second_tu_version()) == sluice::version_string);
}

} // namespace test_version
