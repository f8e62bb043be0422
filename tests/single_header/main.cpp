// Compiled against single_include/sluice/sluice.hpp only (no include/ on the include path), together
// with second_tu.cpp, with -Wall -Wextra -Wpedantic -Werror: the single header must stand alone and
// be safe to include from several translation units.
#include "sluice.hpp"

#include <cstdio>
#include <cstring>

const char* second_tu_version();

int main() {
    if (std::strcmp(sluice::version_string, SLUICE_VERSION_STRING) != 0 ||
        std::strcmp(second_tu_version(), sluice::version_string) != 0) {
        std::fprintf(stderr, "single header: version mismatch\n");
        return 1;
    }
    std::printf("sluice %s (single header)\n", sluice::version_string);
    return 0;
}
