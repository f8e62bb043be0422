// The second translation unit of the single-header test (see main.cpp).
#include "sluice.hpp"

const char* second_tu_version();
const char* second_tu_version() { return sluice::version_string; }
