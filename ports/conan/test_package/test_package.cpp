#include <sluice/sluice.hpp>

#include <cstdio>

int main() {
    std::printf("sluice %s\n", sluice::version_string);
    return 0;
}
