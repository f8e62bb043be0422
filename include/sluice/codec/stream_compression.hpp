#pragma once

// Whole-object compression streams: a gzip file (one GZIP member, RFC 1952, through zlib), a zstd file
// (one Zstandard frame, RFC 8878) or an lz4 file (one LZ4 frame, lz4's doc/lz4_Frame_format.md), written
// a piece at a time. The compressor keeps a bounded window of its own (zstd: one 128 KiB block, zlib:
// its 32 KiB window and pending output, lz4: one 64 KiB block), so compressing a multi-GB object needs
// no more memory than that: what it hands back can be written or uploaded at once.
//
// Block compression (one buffer at a time, for disk-buffer blocks and Parquet pages) is block_codec in
// codec/compression.hpp; both use the same `compression` enum and the same SLUICE_HAS_* switches.

#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/codec/compression.hpp>

#if SLUICE_DETAIL_LZ4
#include <lz4frame.h>
#endif

namespace sluice {

/// The file name extension of a compressed object: ".gz", ".zst", ".lz4"; "" for none.
[[nodiscard]] inline std::string_view compression_extension(compression c) noexcept {
    switch (c) {
    case compression::gzip: return ".gz";
    case compression::zstd: return ".zst";
    case compression::lz4: return ".lz4";
    case compression::snappy:
    case compression::none: return "";
    }
    return "";
}

/// The HTTP Content-Encoding of a compressed object ("gzip", "zstd" (RFC 8878), "lz4"), "" for none.
/// lz4 is not a registered HTTP content coding: a client that does not know it refuses the object
/// instead of reading compressed bytes as text, which is the point of saying it.
[[nodiscard]] inline std::string_view content_encoding(compression c) noexcept {
    switch (c) {
    case compression::gzip: return "gzip";
    case compression::zstd: return "zstd";
    case compression::lz4: return "lz4";
    case compression::snappy:
    case compression::none: return "";
    }
    return "";
}

namespace detail {

/// The codec-specific half of stream_compressor (one per library).
class stream_engine {
public:
    virtual ~stream_engine() = default;
    virtual void write(std::string_view in, std::string& out) = 0;
    /// Compresses `last` and ends the stream. When nothing was written before, the library knows the
    /// whole size and sizes its tables to it (zstd: kilobytes instead of megabytes for a small object).
    virtual void finish(std::string_view last, std::string& out) = 0;
    /// What the library holds for the stream (its state and windows), in bytes.
    [[nodiscard]] virtual std::size_t memory_bytes() const noexcept = 0;
};

/// Output space a compressor writes into before its bytes are appended to the caller's string:
/// grown when too small, then reused without being cleared (std::string::resize would zero-fill the
/// whole space on every call, a memset as large as the piece being compressed).
class scratch_space {
public:
    [[nodiscard]] char* get(std::size_t n) {
        if (n > size_) {
            data_ = std::make_unique_for_overwrite<char[]>(n);
            size_ = n;
        }
        return data_.get();
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
};

#if SLUICE_DETAIL_ZSTD
class zstd_stream_engine final : public stream_engine {
public:
    explicit zstd_stream_engine(int level) : ctx_(ZSTD_createCCtx()) {
        if (!ctx_) throw std::bad_alloc();
        check(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, level));
    }
    void write(std::string_view in, std::string& out) override { run(in, out, ZSTD_e_continue); }
    void finish(std::string_view last, std::string& out) override { run(last, out, ZSTD_e_end); }
    [[nodiscard]] std::size_t memory_bytes() const noexcept override {
        return ZSTD_sizeof_CCtx(ctx_.get()) + scratch_.size();
    }

private:
    void run(std::string_view in, std::string& out, ZSTD_EndDirective mode) {
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        const std::size_t chunk = ZSTD_CStreamOutSize();
        char* dst = scratch_.get(chunk);
        for (;;) {
            ZSTD_outBuffer output{dst, chunk, 0};
            const std::size_t left = ZSTD_compressStream2(ctx_.get(), &output, &input, mode);
            check(left);
            out.append(dst, output.pos);
            const bool done = mode == ZSTD_e_end ? left == 0 : input.pos == input.size;
            if (done) return;
        }
    }
    static void check(std::size_t rc) {
        if (ZSTD_isError(rc) != 0)
            throw compression_error(std::string("sluice: zstd stream compression failed: ") + ZSTD_getErrorName(rc));
    }
    std::unique_ptr<ZSTD_CCtx, zstd_cctx_deleter> ctx_;
    scratch_space scratch_;
};
#endif

#if SLUICE_DETAIL_ZLIB
class gzip_stream_engine final : public stream_engine {
public:
    explicit gzip_stream_engine(int level) : z_(true, level) {}
    void write(std::string_view in, std::string& out) override { run(in, out, Z_NO_FLUSH); }
    void finish(std::string_view last, std::string& out) override { run(last, out, Z_FINISH); }
    /// zlib's own formula for deflate: (1 << (windowBits + 2)) + (1 << (memLevel + 9)), plus its state.
    [[nodiscard]] std::size_t memory_bytes() const noexcept override {
        return (1u << 17) + (1u << 17) + 6 * 1024 + scratch_.size();
    }

private:
    void run(std::string_view in, std::string& out, int flush) {
        z_stream* z = z_.get();
        z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z->avail_in = static_cast<uInt>(in.size()); // callers pass pieces far below 4 GiB
        const std::size_t chunk = 64 * 1024;
        char* dst = scratch_.get(chunk);
        for (;;) {
            z->next_out = reinterpret_cast<Bytef*>(dst);
            z->avail_out = static_cast<uInt>(chunk);
            const int rc = deflate(z, flush);
            out.append(dst, chunk - z->avail_out);
            if (rc == Z_STREAM_ERROR) throw compression_error("sluice: gzip stream compression failed");
            if (flush == Z_FINISH ? rc == Z_STREAM_END : (z->avail_in == 0 && z->avail_out != 0)) return;
        }
    }
    gzip_block_stream z_;
    scratch_space scratch_;
};
#endif

#if SLUICE_DETAIL_LZ4
class lz4_stream_engine final : public stream_engine {
public:
    explicit lz4_stream_engine(int level) {
        if (LZ4F_isError(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION)) != 0) throw std::bad_alloc();
        prefs_.compressionLevel = level;
        prefs_.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    }
    ~lz4_stream_engine() override { LZ4F_freeCompressionContext(ctx_); }
    lz4_stream_engine(const lz4_stream_engine&) = delete;
    lz4_stream_engine& operator=(const lz4_stream_engine&) = delete;

    void write(std::string_view in, std::string& out) override {
        begin(out);
        const std::size_t bound = LZ4F_compressBound(in.size(), &prefs_);
        char* dst = scratch_.get(bound);
        const std::size_t n = LZ4F_compressUpdate(ctx_, dst, bound, in.data(), in.size(), nullptr);
        check(n);
        out.append(dst, n);
    }
    /// The frame context keeps the last 64 KiB block (lz4's dictionary) and its state.
    [[nodiscard]] std::size_t memory_bytes() const noexcept override {
        return 64 * 1024 + 16 * 1024 + 4096 + scratch_.size();
    }
    void finish(std::string_view last, std::string& out) override {
        if (!last.empty()) write(last, out);
        begin(out);
        const std::size_t bound = LZ4F_compressBound(0, &prefs_);
        char* dst = scratch_.get(bound);
        const std::size_t n = LZ4F_compressEnd(ctx_, dst, bound, nullptr);
        check(n);
        out.append(dst, n);
    }

private:
    void begin(std::string& out) {
        if (begun_) return;
        char* dst = scratch_.get(LZ4F_HEADER_SIZE_MAX);
        const std::size_t n = LZ4F_compressBegin(ctx_, dst, LZ4F_HEADER_SIZE_MAX, &prefs_);
        check(n);
        out.append(dst, n);
        begun_ = true;
    }
    static void check(std::size_t rc) {
        if (LZ4F_isError(rc) != 0)
            throw compression_error(std::string("sluice: lz4 frame compression failed: ") + LZ4F_getErrorName(rc));
    }
    LZ4F_cctx* ctx_ = nullptr;
    LZ4F_preferences_t prefs_{};
    scratch_space scratch_;
    bool begun_ = false;
};
#endif

} // namespace detail

/// Compresses one object as a stream: write() pieces of it in order, then finish() once. Output is
/// appended to the caller's string as the library produces it (often nothing until a block fills).
/// Not thread-safe; one per object.
class stream_compressor {
public:
    /// `level` 0 means the library's default (zstd 3, gzip 6, lz4's fast mode); otherwise zstd's
    /// ZSTD_minCLevel()..ZSTD_maxCLevel(), gzip's 1..9, lz4 frame's 1..12 (high compression from 3).
    /// Throws std::invalid_argument for none, snappy (no stream format here), a codec not compiled in,
    /// or a level out of range.
    explicit stream_compressor(compression codec, int level = 0) : codec_(codec) {
        require_compression(codec);
        if (level != 0) block_codec::check_level(codec, level);
        switch (codec) {
#if SLUICE_DETAIL_ZSTD
        case compression::zstd: engine_ = std::make_unique<detail::zstd_stream_engine>(level == 0 ? 3 : level); break;
#endif
#if SLUICE_DETAIL_ZLIB
        case compression::gzip: engine_ = std::make_unique<detail::gzip_stream_engine>(level == 0 ? 6 : level); break;
#endif
#if SLUICE_DETAIL_LZ4
        case compression::lz4:
            if (level < 0 || level > 12)
                throw std::invalid_argument("sluice: lz4 frame level " + std::to_string(level) + " is outside 0..12");
            engine_ = std::make_unique<detail::lz4_stream_engine>(level);
            break;
#endif
        default:
            throw std::invalid_argument("sluice: " + std::string(to_string(codec)) +
                                        " has no stream format here (gzip, zstd and lz4 do)");
        }
    }

    /// The codec it was made for.
    [[nodiscard]] compression codec() const noexcept { return codec_; }
    /// The memory the library holds for the stream (state and windows), in bytes.
    /// 0 once finished: the library's state is released with the stream's end.
    [[nodiscard]] std::size_t memory_bytes() const noexcept { return engine_ ? engine_->memory_bytes() : 0; }

    /// Compresses `in` and appends what the library emits to `out`. Throws compression_error.
    void write(std::string_view in, std::string& out) {
        if (finished_) throw std::logic_error("sluice: stream_compressor::write after finish");
        engine_->write(in, out);
    }

    /// Ends the stream (its last block and trailer are appended to `out`). Once only.
    void finish(std::string& out) { finish({}, out); }

    /// Compresses `last` and ends the stream. Prefer it to write() + finish() for the last piece: a
    /// stream that was never written before then knows its whole size (zstd sizes its tables to it,
    /// kilobytes instead of megabytes for a small object). Releases the library's state.
    void finish(std::string_view last, std::string& out) {
        if (finished_) throw std::logic_error("sluice: stream_compressor::finish called twice");
        engine_->finish(last, out);
        finished_ = true;
        engine_.reset();
    }

private:
    compression codec_;
    std::unique_ptr<detail::stream_engine> engine_;
    bool finished_ = false;
};

} // namespace sluice
