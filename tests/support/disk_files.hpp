#pragma once

// Builds disk_buffer files byte by byte (segments, frames, checkpoints) with their CRCs right, so
// tests and fuzz reproducers can lay out exactly the damage they mean, and a scratch directory.

#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/segment_format.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sluice_test {

using bytes = std::vector<std::byte>;

/// A fresh directory under /tmp, removed with its files at scope exit.
struct scratch_dir {
    std::filesystem::path path;
    scratch_dir() {
        char tmpl[] = "/tmp/sluice-disk-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

inline bytes to_bytes(std::string_view s) {
    const auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
    return {b.begin(), b.end()};
}

inline void append(bytes& out, const bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

/// A segment header for sequence `seq` whose first record is `first`.
inline bytes segment_header(std::uint64_t seq, std::uint64_t first) {
    bytes b(sluice::detail::disk::segment_header_size);
    sluice::detail::disk::write_segment_header(b.data(), seq, first);
    return b;
}

/// A record frame; `bad_crc` stores a payload CRC that does not match.
inline bytes record_frame(std::uint64_t id, std::string_view payload, bool bad_crc = false) {
    const bytes p = to_bytes(payload);
    bytes b(sluice::detail::disk::record_header_size);
    sluice::detail::disk::write_record_header(b.data(), static_cast<std::uint32_t>(p.size()), id,
                                              sluice::crc32c(p) ^ (bad_crc ? 1u : 0u));
    append(b, p);
    return b;
}

/// A block frame holding `inner` (framed records) stored uncompressed, claiming `count` records.
inline bytes stored_block(std::uint64_t first, std::uint32_t count, const bytes& inner) {
    bytes b(sluice::detail::disk::block_header_size);
    sluice::detail::disk::write_block_header(b.data(), static_cast<std::uint32_t>(inner.size()), first, count,
                                             static_cast<std::uint32_t>(inner.size()), sluice::compression::none,
                                             sluice::crc32c(inner));
    append(b, inner);
    return b;
}

inline void write_file(const std::filesystem::path& path, const bytes& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline bytes read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes b(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
    return b;
}

inline std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t seq) {
    return dir / sluice::detail::disk::segment_name(seq);
}

} // namespace sluice_test
