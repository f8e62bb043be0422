#pragma once

// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of iSCSI, ext4, btrfs
// and most storage formats, because x86 computes it in hardware (SSE4.2 `crc32`). Here the instruction
// is used when the CPU has it (checked once at run time, so a generic x86-64 build still gets it), over
// three interleaved streams for long inputs (the instruction has a latency of 3 cycles but a throughput
// of 1). Elsewhere a table-driven slicing-by-8 loop does the same job at about 1 byte per cycle.
//
// crc32c(data, previous) continues a CRC: crc32c(b, crc32c(a)) == crc32c(a followed by b).

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SLUICE_DETAIL_CRC32C_X86 1
#else
#define SLUICE_DETAIL_CRC32C_X86 0
#endif

namespace sluice {

namespace detail {

inline constexpr std::uint32_t crc32c_poly = 0x82F63B78u; // reflected Castagnoli polynomial

/// table[k][b]: the CRC state after byte b followed by k zero bytes (slicing-by-8).
using crc32c_table = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc32c_table make_crc32c_table() {
    crc32c_table t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ crc32c_poly : c >> 1;
        t[0][i] = c;
    }
    for (std::size_t s = 1; s < 8; ++s)
        for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
    return t;
}

inline constexpr crc32c_table crc32c_tables = make_crc32c_table();

/// Little-endian 64-bit load from unaligned memory.
inline std::uint64_t crc32c_load64(const unsigned char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::big) {
        std::uint64_t r = 0;
        for (int i = 0; i < 8; ++i) r |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        v = r;
    }
    return v;
}

/// Advances a raw (not inverted) CRC state over `n` bytes, eight at a time through the tables.
inline std::uint32_t crc32c_update_software(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
    const auto& t = crc32c_tables;
    while (n != 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
        crc = t[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
        --n;
    }
    while (n >= 8) {
        const std::uint64_t w = crc32c_load64(p) ^ crc;
        crc = t[7][w & 0xffu] ^ t[6][(w >> 8) & 0xffu] ^ t[5][(w >> 16) & 0xffu] ^ t[4][(w >> 24) & 0xffu] ^
              t[3][(w >> 32) & 0xffu] ^ t[2][(w >> 40) & 0xffu] ^ t[1][(w >> 48) & 0xffu] ^ t[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- != 0) crc = t[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return crc;
}

#if SLUICE_DETAIL_CRC32C_X86

// Three streams of `stride` bytes run side by side and are then combined: the CRC of stream 0 is
// advanced over `stride` zero bytes (a linear map, applied as four table lookups) and xored with the
// CRC of stream 1, and so on.
inline constexpr std::size_t crc32c_long_stride = 8192;
inline constexpr std::size_t crc32c_short_stride = 256;
inline constexpr std::size_t crc32c_tiny_stride = 64; // a 200-byte record: one round of three

/// shift[k][b]: byte b at position k of a CRC state, advanced over `stride` zero bytes.
struct crc32c_shift_tables {
    std::uint32_t long_shift[4][256];
    std::uint32_t short_shift[4][256];
    std::uint32_t tiny_shift[4][256];
};

/// The GF(2) 32x32 matrix `m` (column n = image of bit n) applied to `v`.
inline std::uint32_t crc32c_gf2_times(const std::uint32_t* m, std::uint32_t v) noexcept {
    std::uint32_t r = 0;
    for (int n = 0; v != 0; ++n, v >>= 1)
        if ((v & 1u) != 0) r ^= m[n];
    return r;
}

inline void crc32c_gf2_square(std::uint32_t* sq, const std::uint32_t* m) noexcept {
    for (int n = 0; n < 32; ++n) sq[n] = crc32c_gf2_times(m, m[n]);
}

/// The operator that advances a CRC state over `bytes` zero bytes (`bytes` a power of two).
inline void crc32c_zeros_operator(std::uint32_t* op, std::size_t bytes) noexcept {
    std::uint32_t odd[32];
    std::uint32_t even[32];
    odd[0] = crc32c_poly; // one zero bit
    for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
    crc32c_gf2_square(even, odd); // two bits
    crc32c_gf2_square(odd, even); // four bits
    crc32c_gf2_square(even, odd); // one byte
    std::uint32_t* cur = even;
    std::uint32_t* other = odd;
    for (; bytes > 1; bytes >>= 1) { // square once per doubling
        crc32c_gf2_square(other, cur);
        std::uint32_t* t = cur;
        cur = other;
        other = t;
    }
    std::memcpy(op, cur, sizeof(std::uint32_t) * 32);
}

inline void crc32c_fill_shift(std::uint32_t (*table)[256], std::size_t bytes) noexcept {
    std::uint32_t op[32];
    crc32c_zeros_operator(op, bytes);
    for (unsigned k = 0; k < 4; ++k)
        for (std::uint32_t b = 0; b < 256; ++b) table[k][b] = crc32c_gf2_times(op, b << (8 * k));
}

inline const crc32c_shift_tables& crc32c_shifts() noexcept {
    static const crc32c_shift_tables tables = [] {
        crc32c_shift_tables t{};
        crc32c_fill_shift(t.long_shift, crc32c_long_stride);
        crc32c_fill_shift(t.short_shift, crc32c_short_stride);
        crc32c_fill_shift(t.tiny_shift, crc32c_tiny_stride);
        return t;
    }();
    return tables;
}

inline std::uint32_t crc32c_shift(const std::uint32_t (*table)[256], std::uint32_t crc) noexcept {
    return table[0][crc & 0xffu] ^ table[1][(crc >> 8) & 0xffu] ^ table[2][(crc >> 16) & 0xffu] ^ table[3][crc >> 24];
}

/// Consumes rounds of three `Stride`-byte streams from (p, n) while at least one round is left.
template <std::size_t Stride>
__attribute__((target("sse4.2"))) inline std::uint64_t
crc32c_three_streams(std::uint64_t c0, const unsigned char*& p, std::size_t& n,
                     const std::uint32_t (*shift)[256]) noexcept {
    while (n >= 3 * Stride) {
        std::uint64_t c1 = 0;
        std::uint64_t c2 = 0;
        for (std::size_t i = 0; i < Stride; i += 8) {
            c0 = _mm_crc32_u64(c0, crc32c_load64(p + i));
            c1 = _mm_crc32_u64(c1, crc32c_load64(p + Stride + i));
            c2 = _mm_crc32_u64(c2, crc32c_load64(p + 2 * Stride + i));
        }
        c0 = crc32c_shift(shift, static_cast<std::uint32_t>(c0)) ^ c1;
        c0 = crc32c_shift(shift, static_cast<std::uint32_t>(c0)) ^ c2;
        p += 3 * Stride;
        n -= 3 * Stride;
    }
    return c0;
}

__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_update_hardware(std::uint32_t crc, const unsigned char* p,
                                                                              std::size_t n) noexcept {
    // No alignment prologue: unaligned 8-byte loads cost nothing extra on x86-64, and short inputs
    // (record headers) would otherwise spend most of their time in byte steps.
    std::uint64_t c0 = crc;
    if (n >= 3 * crc32c_tiny_stride) {
        const auto& shifts = crc32c_shifts();
        c0 = crc32c_three_streams<crc32c_long_stride>(c0, p, n, shifts.long_shift);
        c0 = crc32c_three_streams<crc32c_short_stride>(c0, p, n, shifts.short_shift);
        c0 = crc32c_three_streams<crc32c_tiny_stride>(c0, p, n, shifts.tiny_shift);
    }
    while (n >= 8) {
        c0 = _mm_crc32_u64(c0, crc32c_load64(p));
        p += 8;
        n -= 8;
    }
    auto c = static_cast<std::uint32_t>(c0);
    if (n >= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        c = _mm_crc32_u32(c, w);
        p += 4;
        n -= 4;
    }
    while (n-- != 0) c = _mm_crc32_u8(c, *p++);
    return c;
}

#endif // SLUICE_DETAIL_CRC32C_X86

} // namespace detail

namespace detail {
/// 0: not checked yet, 1: the instruction is there, 2: it is not. Constant-initialised (so usable
/// during static initialisation); a relaxed load on the hot path instead of a function-local static's
/// guard.
inline std::atomic<int> crc32c_cpu_state{0};
} // namespace detail

/// True when crc32c() uses the CPU's CRC32C instruction (x86-64 with SSE4.2).
[[nodiscard]] inline bool crc32c_hardware_available() noexcept {
#if SLUICE_DETAIL_CRC32C_X86
#if defined(__SSE4_2__)
    return true;
#else
    int state = detail::crc32c_cpu_state.load(std::memory_order_relaxed);
    if (state == 0) [[unlikely]] {
        state = __builtin_cpu_supports("sse4.2") != 0 ? 1 : 2;
        detail::crc32c_cpu_state.store(state, std::memory_order_relaxed);
    }
    return state == 1;
#endif
#else
    return false;
#endif
}

/// CRC32C of `data` with the portable table-driven code, continuing from `crc` (0 to start).
[[nodiscard]] inline std::uint32_t crc32c_software(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
    return ~detail::crc32c_update_software(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

/// CRC32C of `data` with the CPU instruction, continuing from `crc`. Falls back to the software code
/// where the instruction is missing, so it is always safe to call (tests compare the two).
[[nodiscard]] inline std::uint32_t crc32c_hardware(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
#if SLUICE_DETAIL_CRC32C_X86
    if (crc32c_hardware_available())
        return ~detail::crc32c_update_hardware(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
#endif
    return crc32c_software(data, crc);
}

/// CRC32C of `data`, continuing from `crc` (the CRC of the bytes before; 0 to start).
[[nodiscard]] inline std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
    return crc32c_hardware(data, crc);
}

/// CRC32C of the `size` bytes at `data`, continuing from `crc`.
[[nodiscard]] inline std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept {
    return crc32c(std::span<const std::byte>(static_cast<const std::byte*>(data), size), crc);
}

/// CRC32C of `text`'s bytes, continuing from `crc`.
[[nodiscard]] inline std::uint32_t crc32c(std::string_view text, std::uint32_t crc = 0) noexcept {
    return crc32c(text.data(), text.size(), crc);
}

} // namespace sluice
