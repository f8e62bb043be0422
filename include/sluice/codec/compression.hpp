#pragma once

// Block compression with lz4 or zstd, for formats that compress a buffer at a time and store the raw
// length next to the compressed bytes (the disk buffer's blocks). A block_codec keeps what the libraries
// would otherwise allocate per call (zstd's compression and decompression contexts), so one codec per
// writer or reader makes compressing a block allocation-free.
//
// Each library is compiled in only when SLUICE_HAS_LZ4 / SLUICE_HAS_ZSTD is 1 (the CMake and meson builds
// define them when they find liblz4 / libzstd; link -llz4 / -lzstd yourself otherwise). Asking for a
// codec that is not compiled in throws std::invalid_argument saying so.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#if defined(SLUICE_HAS_LZ4) && SLUICE_HAS_LZ4
#include <lz4.h>
#define SLUICE_DETAIL_LZ4 1
#else
#define SLUICE_DETAIL_LZ4 0
#endif

#if defined(SLUICE_HAS_ZSTD) && SLUICE_HAS_ZSTD
#include <zstd.h>
#define SLUICE_DETAIL_ZSTD 1
#else
#define SLUICE_DETAIL_ZSTD 0
#endif

namespace sluice {

/// A block compression codec. The numeric values are stored on disk: never renumber.
enum class compression : std::uint8_t {
    none = 0,
    lz4 = 1,
    zstd = 2,
};

[[nodiscard]] inline std::string_view to_string(compression c) noexcept {
    switch (c) {
    case compression::none: return "none";
    case compression::lz4: return "lz4";
    case compression::zstd: return "zstd";
    }
    return "unknown";
}

/// True when `c` can be used in this build (`none` always can).
[[nodiscard]] inline bool compression_available(compression c) noexcept {
    switch (c) {
    case compression::none: return true;
    case compression::lz4: return SLUICE_DETAIL_LZ4 != 0;
    case compression::zstd: return SLUICE_DETAIL_ZSTD != 0;
    }
    return false;
}

/// Compressing or decompressing failed: corrupt input, or an output size other than the one expected.
class compression_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
#if SLUICE_DETAIL_ZSTD
struct zstd_cctx_deleter {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct zstd_dctx_deleter {
    void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};
#endif
} // namespace detail

/// Compresses and decompresses whole blocks with one codec. Not thread-safe: one per thread or owner.
class block_codec {
public:
    /// `level` is zstd's compression level (negative: faster; 1 is fast; up to ZSTD_maxCLevel());
    /// lz4 and none ignore it. Throws std::invalid_argument when `codec` is not compiled in or unknown,
    /// or the level is out of range.
    explicit block_codec(compression codec, int level = 1) : codec_(codec), level_(level) {
        switch (codec) {
        case compression::none: return;
        case compression::lz4:
            if (!compression_available(codec))
                throw std::invalid_argument("sluice: lz4 compression is not available: this build has no liblz4 "
                                            "(SLUICE_HAS_LZ4 is not 1)");
            return;
        case compression::zstd:
            if (!compression_available(codec))
                throw std::invalid_argument("sluice: zstd compression is not available: this build has no libzstd "
                                            "(SLUICE_HAS_ZSTD is not 1)");
#if SLUICE_DETAIL_ZSTD
            if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
                throw std::invalid_argument("sluice: zstd level " + std::to_string(level) + " is outside " +
                                            std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
#endif
            return;
        }
        throw std::invalid_argument("sluice: unknown compression codec " +
                                    std::to_string(static_cast<unsigned>(codec)));
    }

    [[nodiscard]] compression codec() const noexcept { return codec_; }

    /// The largest output compress() may produce for `raw_size` input bytes.
    [[nodiscard]] std::size_t max_compressed_size(std::size_t raw_size) const noexcept {
        switch (codec_) {
        case compression::none: return raw_size;
        case compression::lz4:
#if SLUICE_DETAIL_LZ4
            if (raw_size > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) return 0;
            return static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(raw_size)));
#else
            return 0;
#endif
        case compression::zstd:
#if SLUICE_DETAIL_ZSTD
            return ZSTD_compressBound(raw_size);
#else
            return 0;
#endif
        }
        return 0;
    }

    /// Compresses `in` into `out` (at least max_compressed_size(in.size()) bytes) and returns the
    /// compressed size. Throws compression_error when the library fails or `out` is too small.
    std::size_t compress(std::span<const std::byte> in, std::span<std::byte> out) {
        if (out.size() < max_compressed_size(in.size()) || (in.size() != 0 && max_compressed_size(in.size()) == 0))
            throw compression_error("sluice: " + std::string(to_string(codec_)) + " output buffer of " +
                                    std::to_string(out.size()) + " bytes is too small for a " +
                                    std::to_string(in.size()) + "-byte block");
        switch (codec_) {
        case compression::none:
            if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
            return in.size();
        case compression::lz4: {
#if SLUICE_DETAIL_LZ4
            const int n =
                LZ4_compress_default(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
                                     static_cast<int>(in.size()), clamp_int(out.size()));
            if (n <= 0 && !in.empty()) throw compression_error("sluice: lz4 compression failed");
            return static_cast<std::size_t>(n);
#else
            break;
#endif
        }
        case compression::zstd: {
#if SLUICE_DETAIL_ZSTD
            if (!cctx_) {
                cctx_.reset(ZSTD_createCCtx());
                if (!cctx_) throw std::bad_alloc();
            }
            const std::size_t n = ZSTD_compressCCtx(cctx_.get(), out.data(), out.size(), in.data(), in.size(), level_);
            if (ZSTD_isError(n) != 0)
                throw compression_error(std::string("sluice: zstd compression failed: ") + ZSTD_getErrorName(n));
            return n;
#else
            break;
#endif
        }
        }
        throw compression_error("sluice: codec not available");
    }

    /// Decompresses `in` into `out`, which must be exactly the original size. Throws compression_error
    /// when `in` is corrupt or does not decompress to exactly out.size() bytes.
    void decompress(std::span<const std::byte> in, std::span<std::byte> out) {
        switch (codec_) {
        case compression::none:
            if (in.size() != out.size())
                throw compression_error("sluice: stored block of " + std::to_string(in.size()) + " bytes, expected " +
                                        std::to_string(out.size()));
            if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
            return;
        case compression::lz4: {
#if SLUICE_DETAIL_LZ4
            if (in.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
                throw compression_error("sluice: lz4 block too large");
            const int n =
                LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
                                    static_cast<int>(in.size()), clamp_int(out.size()));
            if (n < 0 || static_cast<std::size_t>(n) != out.size())
                throw compression_error("sluice: corrupt lz4 block (" + std::to_string(in.size()) +
                                        " bytes do not decompress to " + std::to_string(out.size()) + ")");
            return;
#else
            break;
#endif
        }
        case compression::zstd: {
#if SLUICE_DETAIL_ZSTD
            if (!dctx_) {
                dctx_.reset(ZSTD_createDCtx());
                if (!dctx_) throw std::bad_alloc();
            }
            const std::size_t n = ZSTD_decompressDCtx(dctx_.get(), out.data(), out.size(), in.data(), in.size());
            if (ZSTD_isError(n) != 0)
                throw compression_error(std::string("sluice: corrupt zstd block: ") + ZSTD_getErrorName(n));
            if (n != out.size())
                throw compression_error("sluice: zstd block decompressed to " + std::to_string(n) +
                                        " bytes, expected " + std::to_string(out.size()));
            return;
#else
            break;
#endif
        }
        }
        throw compression_error("sluice: codec not available");
    }

private:
    static int clamp_int(std::size_t n) noexcept {
        return n > static_cast<std::size_t>(std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max()
                                                                             : static_cast<int>(n);
    }

    compression codec_;
    [[maybe_unused]] int level_; // zstd only
#if SLUICE_DETAIL_ZSTD
    std::unique_ptr<ZSTD_CCtx, detail::zstd_cctx_deleter> cctx_;
    std::unique_ptr<ZSTD_DCtx, detail::zstd_dctx_deleter> dctx_;
#endif
};

} // namespace sluice
