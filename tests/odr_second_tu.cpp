// A second translation unit that includes every public header, linked into sluice_tests next to the
// test_*.cpp files that include the same headers. A non-inline function or variable defined in a
// header then fails to link (multiple definition), which a single-TU build would never notice.
#include <sluice/sluice.hpp>

namespace sluice_odr_check {
// Take the address of something so the header's inline entities are odr-used in this TU too.
const char* second_tu_version() { return sluice::version_string; }
} // namespace sluice_odr_check
