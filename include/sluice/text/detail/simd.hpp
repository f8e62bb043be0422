#pragma once

// Which x86 vector extensions this CPU has, detected once, for the text encoders' hand-written
// SSSE3/AVX2 paths. They are compiled with target attributes, so a build for the x86-64 baseline
// still uses them where the CPU has them; elsewhere SLUICE_TEXT_X86_DISPATCH is 0 and portable
// code runs.

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SLUICE_TEXT_X86_DISPATCH 1
#include <immintrin.h>
#else
#define SLUICE_TEXT_X86_DISPATCH 0
#endif

namespace sluice::detail::simd {

enum class level { baseline, ssse3, avx2 };

/// What this CPU offers (baseline everywhere the dispatch is off).
[[nodiscard]] inline level cpu_level() noexcept {
#if SLUICE_TEXT_X86_DISPATCH
    static const level detected = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) return level::avx2;
        if (__builtin_cpu_supports("ssse3")) return level::ssse3;
        return level::baseline;
    }();
    return detected;
#else
    return level::baseline;
#endif
}

} // namespace sluice::detail::simd
