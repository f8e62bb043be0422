#pragma once

// Pulsar's payload compression: LZ4 (the raw block format, as the Java and C++ clients write it),
// ZLIB (a zlib stream, RFC 1950), ZSTD (a zstd frame) and SNAPPY (snappy's raw format). The batch (or
// single payload) is compressed whole and MessageMetadata.uncompressed_size gives its original size,
// which the decoder checks and which bounds what it allocates.
//
// LZ4, ZSTD and SNAPPY use codec/compression.hpp's block_codec (liblz4, libzstd, libsnappy); ZLIB
// uses zlib directly (SLUICE_HAS_ZLIB), since block_codec's zlib codec writes GZIP members and
// Pulsar's ZLIB is the zlib format. A codec not compiled in is refused with a clear error when a
// producer is configured with it, and a message compressed with it comes to the consumer as corrupt.

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/codec/compression.hpp> // includes zlib.h when SLUICE_DETAIL_ZLIB
#include <sluice/pulsar/commands.hpp>

namespace sluice::pulsar {

/// The name Pulsar gives a compression type.
[[nodiscard]] inline std::string_view to_string(compression_type c) noexcept {
    switch (c) {
    case compression_type::none: return "NONE";
    case compression_type::lz4: return "LZ4";
    case compression_type::zlib: return "ZLIB";
    case compression_type::zstd: return "ZSTD";
    case compression_type::snappy: return "SNAPPY";
    }
    return "unknown";
}

/// True when this build can compress and decompress `c`.
[[nodiscard]] inline bool compression_available(compression_type c) noexcept {
    switch (c) {
    case compression_type::none: return true;
    case compression_type::snappy: return sluice::compression_available(compression::snappy);
    case compression_type::lz4: return sluice::compression_available(compression::lz4);
    case compression_type::zstd: return sluice::compression_available(compression::zstd);
    case compression_type::zlib: return SLUICE_DETAIL_ZLIB != 0;
    }
    return false;
}

/// Compresses and decompresses payloads; keeps the lz4/zstd contexts between calls. One per thread.
class payload_codec {
public:
    /// Appends the compression of `in` with `c` to `out`. Throws std::invalid_argument when `c` is not
    /// available in this build, compression_error when the library fails.
    void compress(compression_type c, std::string_view in, std::string& out) {
        require(c);
        switch (c) {
        case compression_type::none: out.append(in); return;
        case compression_type::snappy: block(compression::snappy, snappy_).compress_into(in, out); return;
        case compression_type::lz4: block(compression::lz4, lz4_).compress_into(in, out); return;
        case compression_type::zstd: block(compression::zstd, zstd_).compress_into(in, out); return;
        case compression_type::zlib: zlib_compress(in, out); return;
        }
    }

    /// Decompresses `in` into `out` (replacing it), which must come to exactly `uncompressed_size`
    /// bytes. Throws compression_error on corrupt input or another size,
    /// std::invalid_argument when `c` is not available.
    void decompress(compression_type c, std::string_view in, std::size_t uncompressed_size, std::string& out) {
        require(c);
        out.resize(uncompressed_size);
        const auto dst = std::as_writable_bytes(std::span<char>(out.data(), out.size()));
        const auto src = std::as_bytes(std::span<const char>(in.data(), in.size()));
        switch (c) {
        case compression_type::none: block(compression::none, none_).codec->decompress(src, dst); return;
        case compression_type::lz4: block(compression::lz4, lz4_).codec->decompress(src, dst); return;
        case compression_type::zstd: block(compression::zstd, zstd_).codec->decompress(src, dst); return;
        case compression_type::snappy: block(compression::snappy, snappy_).codec->decompress(src, dst); return;
        case compression_type::zlib: zlib_decompress(in, out); return;
        }
    }

private:
    struct lazy_block {
        std::unique_ptr<block_codec> codec;
        void compress_into(std::string_view in, std::string& out) {
            const std::size_t at = out.size();
            const auto src = std::as_bytes(std::span<const char>(in.data(), in.size()));
            out.resize(at + codec->max_compressed_size(in.size()));
            const std::size_t n =
                codec->compress(src, std::as_writable_bytes(std::span<char>(out.data() + at, out.size() - at)));
            out.resize(at + n);
        }
    };

    static lazy_block& block(compression c, lazy_block& slot) {
        if (!slot.codec) slot.codec = std::make_unique<block_codec>(c, 1);
        return slot;
    }

    static void require(compression_type c) {
        if (!compression_available(c))
            throw std::invalid_argument("sluice: Pulsar compression " + std::string(to_string(c)) +
                                        " is not available in this build (its library was not found)");
    }

    static void zlib_compress([[maybe_unused]] std::string_view in, [[maybe_unused]] std::string& out) {
#if SLUICE_DETAIL_ZLIB
        const std::size_t at = out.size();
        uLongf n = compressBound(static_cast<uLong>(in.size()));
        out.resize(at + n);
        const int rc = ::compress2(reinterpret_cast<Bytef*>(out.data() + at), &n,
                                   reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()), Z_DEFAULT_COMPRESSION);
        if (rc != Z_OK) throw compression_error("sluice: zlib compression failed (" + std::to_string(rc) + ")");
        out.resize(at + n);
#endif
    }

    static void zlib_decompress([[maybe_unused]] std::string_view in, [[maybe_unused]] std::string& out) {
#if SLUICE_DETAIL_ZLIB
        uLongf n = static_cast<uLongf>(out.size());
        const int rc = ::uncompress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(in.data()),
                                    static_cast<uLong>(in.size()));
        if (rc != Z_OK || n != out.size())
            throw compression_error("sluice: corrupt zlib payload (" +
                                    std::string(rc == Z_OK ? "size differs from uncompressed_size" : "zlib error " + std::to_string(rc)) + ")");
#endif
    }

    lazy_block none_{};
    lazy_block lz4_{};
    lazy_block zstd_{};
    lazy_block snappy_{};
};

} // namespace sluice::pulsar
