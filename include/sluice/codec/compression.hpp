#pragma once

// Block compression with lz4, zstd, gzip or snappy, for formats that compress a buffer at a time and
// store the raw length next to the compressed bytes (the disk buffer's blocks, Parquet pages). A
// block_codec keeps what the libraries would otherwise allocate per call (zstd's contexts, zlib's
// streams), so one codec per writer or reader makes compressing a block allocation-free.
//
// The block formats are the ones Parquet names (apache/parquet-format, Compression.md): lz4 is the LZ4
// *block* format (Parquet's LZ4_RAW, no frame), zstd a Zstandard frame (RFC 8878), gzip one GZIP member
// (RFC 1952, not the zlib or raw deflate formats), snappy Snappy's raw format (no framing). Whole-object
// streams (the lz4 *frame* format, gzip and zstd files) are in codec/stream_compression.hpp.
//
// Each library is compiled in only when SLUICE_HAS_LZ4 / SLUICE_HAS_ZSTD / SLUICE_HAS_ZLIB /
// SLUICE_HAS_SNAPPY is 1 (the CMake and meson builds define them when they find liblz4 / libzstd / zlib /
// snappy; link -llz4 / -lzstd / -lz / -lsnappy yourself otherwise). Asking for a codec that is not
// compiled in throws std::invalid_argument saying so.

#include <cstddef>
#include <cstdint>
#include <algorithm>
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

#if defined(SLUICE_HAS_ZLIB) && SLUICE_HAS_ZLIB
#include <zlib.h>
#define SLUICE_DETAIL_ZLIB 1
#else
#define SLUICE_DETAIL_ZLIB 0
#endif

#if defined(SLUICE_HAS_SNAPPY) && SLUICE_HAS_SNAPPY
#include <snappy-c.h>
#define SLUICE_DETAIL_SNAPPY 1
#else
#define SLUICE_DETAIL_SNAPPY 0
#endif

namespace sluice {

/// A compression codec. The numeric values are stored on disk: never renumber. The disk buffer
/// takes none, lz4 and zstd; Parquet pages all five; whole-object streams all but snappy.
enum class compression : std::uint8_t {
    none = 0,
    lz4 = 1,    ///< blocks: the LZ4 block format; streams: the LZ4 frame format
    zstd = 2,   ///< a Zstandard frame
    gzip = 3,   ///< a GZIP member (RFC 1952), through zlib
    snappy = 4, ///< Snappy's raw block format (blocks only)
};

/// "none", "lz4", "zstd", "gzip" or "snappy".
[[nodiscard]] inline std::string_view to_string(compression c) noexcept {
    switch (c) {
    case compression::none: return "none";
    case compression::lz4: return "lz4";
    case compression::zstd: return "zstd";
    case compression::gzip: return "gzip";
    case compression::snappy: return "snappy";
    }
    return "unknown";
}

/// True when `c` can be used in this build (`none` always can).
[[nodiscard]] inline bool compression_available(compression c) noexcept {
    switch (c) {
    case compression::none: return true;
    case compression::lz4: return SLUICE_DETAIL_LZ4 != 0;
    case compression::zstd: return SLUICE_DETAIL_ZSTD != 0;
    case compression::gzip: return SLUICE_DETAIL_ZLIB != 0;
    case compression::snappy: return SLUICE_DETAIL_SNAPPY != 0;
    }
    return false;
}

/// Throws std::invalid_argument when `c` is unknown or not compiled into this build, naming what is missing.
inline void require_compression(compression c) {
    if (compression_available(c)) return;
    switch (c) {
    case compression::lz4:
        throw std::invalid_argument("sluice: lz4 compression is not available: this build has no liblz4 "
                                    "(SLUICE_HAS_LZ4 is not 1)");
    case compression::zstd:
        throw std::invalid_argument("sluice: zstd compression is not available: this build has no libzstd "
                                    "(SLUICE_HAS_ZSTD is not 1)");
    case compression::gzip:
        throw std::invalid_argument("sluice: gzip compression is not available: this build has no zlib "
                                    "(SLUICE_HAS_ZLIB is not 1)");
    case compression::snappy:
        throw std::invalid_argument("sluice: snappy compression is not available: this build has no libsnappy "
                                    "(SLUICE_HAS_SNAPPY is not 1)");
    case compression::none: break;
    }
    throw std::invalid_argument("sluice: unknown compression codec " + std::to_string(static_cast<unsigned>(c)));
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
#if SLUICE_DETAIL_ZLIB
/// A zlib stream set up for GZIP members (window bits 15 + 16), reset per block instead of reallocated.
class gzip_block_stream {
public:
    gzip_block_stream(bool deflating, int level) : deflating_(deflating) {
        const int rc = deflating ? deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
                                 : inflateInit2(&z_, 15 + 16);
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw std::invalid_argument("sluice: zlib refused gzip level " + std::to_string(level));
    }
    gzip_block_stream(const gzip_block_stream&) = delete;
    gzip_block_stream& operator=(const gzip_block_stream&) = delete;
    ~gzip_block_stream() {
        if (deflating_)
            deflateEnd(&z_);
        else
            inflateEnd(&z_);
    }
    z_stream* get() noexcept { return &z_; }

private:
    z_stream z_{};
    bool deflating_;
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
        require_compression(codec);
        check_level(codec, level);
    }

    /// Throws std::invalid_argument when `level` is outside what `codec` takes (zstd: ZSTD_minCLevel()
    /// to ZSTD_maxCLevel(); gzip: -1 (zlib's default) to 9; the others ignore it).
    static void check_level(compression codec, [[maybe_unused]] int level) {
#if SLUICE_DETAIL_ZSTD
        if (codec == compression::zstd && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
            throw std::invalid_argument("sluice: zstd level " + std::to_string(level) + " is outside " +
                                        std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
#endif
        if (codec == compression::gzip && (level < -1 || level > 9))
            throw std::invalid_argument("sluice: gzip level " + std::to_string(level) + " is outside -1..9");
    }

    /// The codec it was made for.
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
        case compression::gzip:
#if SLUICE_DETAIL_ZLIB
            // deflateBound() of a gzip stream: the deflate bound plus the 18-byte header and trailer.
            if (raw_size > std::numeric_limits<uLong>::max() / 2) return 0;
            return static_cast<std::size_t>(compressBound(static_cast<uLong>(raw_size))) + 18 + 64;
#else
            return 0;
#endif
        case compression::snappy:
#if SLUICE_DETAIL_SNAPPY
            return snappy_max_compressed_length(raw_size);
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
        case compression::gzip: return compress_gzip(in, out);
        case compression::snappy: {
#if SLUICE_DETAIL_SNAPPY
            std::size_t n = out.size();
            if (snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data()),
                                &n) != SNAPPY_OK)
                throw compression_error("sluice: snappy compression failed");
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
        case compression::gzip: decompress_gzip(in, out); return;
        case compression::snappy: {
#if SLUICE_DETAIL_SNAPPY
            std::size_t n = 0;
            if (snappy_uncompressed_length(reinterpret_cast<const char*>(in.data()), in.size(), &n) != SNAPPY_OK ||
                n != out.size())
                throw compression_error("sluice: corrupt snappy block (" + std::to_string(in.size()) +
                                        " bytes do not decompress to " + std::to_string(out.size()) + ")");
            if (snappy_uncompress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data()),
                                  &n) != SNAPPY_OK)
                throw compression_error("sluice: corrupt snappy block");
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

    std::size_t compress_gzip([[maybe_unused]] std::span<const std::byte> in, [[maybe_unused]] std::span<std::byte> out) {
#if SLUICE_DETAIL_ZLIB
        if (!deflate_) deflate_ = std::make_unique<detail::gzip_block_stream>(true, level_);
        z_stream* z = deflate_->get();
        if (deflateReset(z) != Z_OK) throw compression_error("sluice: gzip compression failed (deflateReset)");
        z->next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
        z->avail_in = static_cast<uInt>(in.size());
        z->next_out = reinterpret_cast<Bytef*>(out.data());
        z->avail_out = static_cast<uInt>(std::min<std::size_t>(out.size(), std::numeric_limits<uInt>::max()));
        if (in.size() > std::numeric_limits<uInt>::max() || deflate(z, Z_FINISH) != Z_STREAM_END)
            throw compression_error("sluice: gzip compression failed");
        return static_cast<std::size_t>(z->total_out);
#else
        throw compression_error("sluice: codec not available");
#endif
    }

    void decompress_gzip([[maybe_unused]] std::span<const std::byte> in, [[maybe_unused]] std::span<std::byte> out) {
#if SLUICE_DETAIL_ZLIB
        if (!inflate_) inflate_ = std::make_unique<detail::gzip_block_stream>(false, 0);
        z_stream* z = inflate_->get();
        if (inflateReset(z) != Z_OK) throw compression_error("sluice: gzip decompression failed (inflateReset)");
        if (in.size() > std::numeric_limits<uInt>::max() || out.size() > std::numeric_limits<uInt>::max())
            throw compression_error("sluice: gzip block too large");
        z->next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
        z->avail_in = static_cast<uInt>(in.size());
        z->next_out = reinterpret_cast<Bytef*>(out.data());
        z->avail_out = static_cast<uInt>(out.size());
        const int rc = inflate(z, Z_FINISH);
        if (rc != Z_STREAM_END || z->total_out != out.size() || z->avail_in != 0)
            throw compression_error("sluice: corrupt gzip block (" + std::to_string(in.size()) +
                                    " bytes do not decompress to " + std::to_string(out.size()) + ")");
#else
        throw compression_error("sluice: codec not available");
#endif
    }

    compression codec_;
    [[maybe_unused]] int level_; // zstd and gzip
#if SLUICE_DETAIL_ZSTD
    std::unique_ptr<ZSTD_CCtx, detail::zstd_cctx_deleter> cctx_;
    std::unique_ptr<ZSTD_DCtx, detail::zstd_dctx_deleter> dctx_;
#endif
#if SLUICE_DETAIL_ZLIB
    std::unique_ptr<detail::gzip_block_stream> deflate_;
    std::unique_ptr<detail::gzip_block_stream> inflate_;
#endif
};

} // namespace sluice
