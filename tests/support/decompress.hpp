#pragma once

// Whole-object decompression for the format tests, straight through the reference libraries (zlib,
// libzstd, liblz4's frame API): an independent check of what sluice's stream_compressor writes.

#include <sluice/codec/compression.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

#if SLUICE_DETAIL_LZ4
#include <lz4frame.h>
#endif

namespace sluice_test {

/// The decompressed bytes of a whole gzip / zstd / lz4-frame object. Throws std::runtime_error when the
/// library finds it corrupt or truncated.
inline std::string decompress_object(sluice::compression codec, std::string_view in) {
    std::string out;
    switch (codec) {
    case sluice::compression::none: return std::string(in);
#if SLUICE_DETAIL_ZLIB
    case sluice::compression::gzip: {
        z_stream z{};
        if (inflateInit2(&z, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2");
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z.avail_in = static_cast<uInt>(in.size());
        int rc = Z_OK;
        while (rc != Z_STREAM_END) {
            char buf[65536];
            z.next_out = reinterpret_cast<Bytef*>(buf);
            z.avail_out = sizeof buf;
            rc = inflate(&z, Z_NO_FLUSH);
            out.append(buf, sizeof buf - z.avail_out);
            if (rc != Z_OK && rc != Z_STREAM_END) break;
        }
        inflateEnd(&z);
        if (rc != Z_STREAM_END || z.avail_in != 0) throw std::runtime_error("corrupt or truncated gzip");
        return out;
    }
#endif
#if SLUICE_DETAIL_ZSTD
    case sluice::compression::zstd: {
        ZSTD_DCtx* d = ZSTD_createDCtx();
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        std::size_t rc = 1;
        for (;;) {
            char buf[65536];
            ZSTD_outBuffer output{buf, sizeof buf, 0};
            rc = ZSTD_decompressStream(d, &output, &input);
            if (ZSTD_isError(rc) != 0) break;
            out.append(buf, output.pos);
            if (input.pos == input.size && (rc == 0 || output.pos < output.size)) break;
        }
        ZSTD_freeDCtx(d);
        if (ZSTD_isError(rc) != 0 || rc != 0) throw std::runtime_error("corrupt or truncated zstd");
        return out;
    }
#endif
#if SLUICE_DETAIL_LZ4
    case sluice::compression::lz4: {
        LZ4F_dctx* d = nullptr;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)) != 0) throw std::runtime_error("lz4f ctx");
        std::size_t pos = 0, rc = 1;
        for (;;) {
            char buf[65536];
            std::size_t dst = sizeof buf, src = in.size() - pos;
            rc = LZ4F_decompress(d, buf, &dst, in.data() + pos, &src, nullptr);
            if (LZ4F_isError(rc) != 0) break;
            out.append(buf, dst);
            pos += src;
            if (rc == 0 || (pos == in.size() && dst == 0)) break;
        }
        LZ4F_freeDecompressionContext(d);
        if (LZ4F_isError(rc) != 0 || rc != 0 || pos != in.size())
            throw std::runtime_error("corrupt or truncated lz4 frame");
        return out;
    }
#endif
    default: throw std::runtime_error("codec not compiled in");
    }
}

} // namespace sluice_test
