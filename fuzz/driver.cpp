// The libFuzzer entry point of one target: fuzz/CMakeLists.txt compiles this file once per target with
// SLUICE_FUZZ_HEADER naming the target's header and SLUICE_FUZZ_ENTRY its function.

#define SLUICE_FUZZ_ABORT 1
#include SLUICE_FUZZ_HEADER

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sluice_fuzz::SLUICE_FUZZ_ENTRY(sluice_fuzz::input(data, size));
    return 0;
}
