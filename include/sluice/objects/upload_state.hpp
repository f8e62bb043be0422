#pragma once

// What an S3 destination keeps on disk about each multipart upload it has started, so that after a
// crash the object's upload resumes (ListParts, then only the parts S3 does not have) instead of
// starting over, and uploads nothing claims any more are aborted.
//
// One file per upload, <directory>/<object sequence, 20 digits>.upload, text, one entry per line, each
// line ending with a space and the CRC32C (8 hex digits) of what precedes it on the line:
//
//   sluice-s3-upload 1 <sequence> <part bytes> <bucket> <key> <upload id> <crc>
//   part <number> <size> <checksum> <etag> <crc>
//
// Strings are percent-encoded (every byte but A-Z a-z 0-9 - _ . ~ /), so a line never holds a blank
// or a line break of its own. The first line is written (to a temporary name, synced, renamed into
// place) before the first UploadPart; a part line is appended after each part S3 accepted. ListParts
// is what counts on resume; the part lines give the checksums when S3 does not list them.
//
// The parser takes anything: a file whose first line is not a valid header is refused (nullopt); part
// lines that are malformed or fail their CRC (a torn last line) are skipped and counted.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <sluice/codec/crc32c.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/text/url.hpp> // not aws/sigv4.hpp: only the encoder, without OpenSSL

namespace sluice::objects {

/// One part as recorded.
struct recorded_part {
    /// Its size in bytes.
    std::uint64_t size = 0;
    std::string checksum{}; ///< base64 CRC32C (x-amz-checksum-crc32c)
    /// The ETag S3 answered with (CompleteMultipartUpload lists it).
    std::string etag{};
};

/// A multipart upload as recorded (see the top of this header).
struct upload_state {
    /// The object's sequence number in its engine.
    std::uint64_t sequence = 0;
    /// The size of every part but the last.
    std::uint64_t part_bytes = 0;
    /// The bucket.
    std::string bucket{};
    /// The object's key.
    std::string key{};
    /// The UploadId CreateMultipartUpload returned.
    std::string upload_id{};
    /// The parts uploaded so far, by part number.
    std::map<std::uint32_t, recorded_part> parts{};
    /// Part lines skipped (malformed or failing their CRC) when it was parsed.
    std::size_t skipped_lines = 0;
};

namespace detail {

[[nodiscard]] inline std::string state_encode(std::string_view s) { return sluice::text::uri_encode(s, /*keep_slash=*/true); }

/// Strict percent-decoding; nullopt for a malformed escape, a blank or a control character.
[[nodiscard]] inline std::optional<std::string> state_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c <= 0x20 || c == 0x7F) return std::nullopt;
        if (c != '%') {
            out.push_back(static_cast<char>(c));
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

template <class Int>
[[nodiscard]] inline std::optional<Int> state_number(std::string_view s) {
    Int v{};
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

/// Appends `fields` joined by spaces, then the CRC32C of that, then '\n'.
inline void state_line(std::string& out, std::initializer_list<std::string_view> fields) {
    std::string line;
    for (const auto f : fields) {
        if (!line.empty()) line.push_back(' ');
        line.append(f);
    }
    char crc[16];
    std::snprintf(crc, sizeof crc, " %08x\n", static_cast<unsigned>(crc32c(line)));
    out += line;
    out += crc;
}

/// The fields of a line whose CRC checks out; nullopt otherwise.
[[nodiscard]] inline std::optional<std::vector<std::string_view>> state_fields(std::string_view line) {
    const std::size_t space = line.rfind(' ');
    if (space == std::string_view::npos || line.size() - space - 1 != 8) return std::nullopt;
    std::uint32_t expected = 0;
    const std::string_view digits = line.substr(space + 1);
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), expected, 16);
    if (r.ec != std::errc{} || r.ptr != digits.data() + digits.size()) return std::nullopt;
    const std::string_view body = line.substr(0, space);
    if (crc32c(body) != expected) return std::nullopt;
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
        const std::size_t next = body.find(' ', start);
        fields.push_back(body.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start));
        if (next == std::string_view::npos) break;
        start = next + 1;
    }
    return fields;
}

} // namespace detail

/// The header line of a new state file.
[[nodiscard]] inline std::string encode_upload_header(const upload_state& s) {
    std::string out;
    const std::string seq = std::to_string(s.sequence), part = std::to_string(s.part_bytes);
    const std::string bucket = detail::state_encode(s.bucket), key = detail::state_encode(s.key),
                      id = detail::state_encode(s.upload_id);
    detail::state_line(out, {"sluice-s3-upload", "1", seq, part, bucket, key, id});
    return out;
}

/// A part line.
[[nodiscard]] inline std::string encode_upload_part(std::uint32_t number, const recorded_part& p) {
    std::string out;
    const std::string n = std::to_string(number), size = std::to_string(p.size);
    const std::string checksum = detail::state_encode(p.checksum), etag = detail::state_encode(p.etag);
    detail::state_line(out, {"part", n, size, checksum.empty() ? "-" : std::string_view(checksum),
                             etag.empty() ? "-" : std::string_view(etag)});
    return out;
}

/// Parses a state file (see the top of this header).
[[nodiscard]] inline std::optional<upload_state> parse_upload_state(std::string_view text) {
    upload_state s;
    bool header = false;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = text.find('\n', start);
        const std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        const bool complete = nl != std::string_view::npos;
        start = complete ? nl + 1 : text.size();
        const auto fields = complete ? detail::state_fields(line) : std::nullopt;
        if (!header) {
            if (!fields || fields->size() != 7 || (*fields)[0] != "sluice-s3-upload" || (*fields)[1] != "1") return std::nullopt;
            const auto seq = detail::state_number<std::uint64_t>((*fields)[2]);
            const auto part = detail::state_number<std::uint64_t>((*fields)[3]);
            auto bucket = detail::state_decode((*fields)[4]);
            auto key = detail::state_decode((*fields)[5]);
            auto id = detail::state_decode((*fields)[6]);
            if (!seq || !part || *part == 0 || !bucket || !key || !id || bucket->empty() || key->empty() || id->empty())
                return std::nullopt;
            s.sequence = *seq;
            s.part_bytes = *part;
            s.bucket = std::move(*bucket);
            s.key = std::move(*key);
            s.upload_id = std::move(*id);
            header = true;
            continue;
        }
        if (!fields || fields->size() != 5 || (*fields)[0] != "part") {
            ++s.skipped_lines;
            continue;
        }
        const auto number = detail::state_number<std::uint32_t>((*fields)[1]);
        const auto size = detail::state_number<std::uint64_t>((*fields)[2]);
        auto checksum = (*fields)[3] == "-" ? std::optional<std::string>("") : detail::state_decode((*fields)[3]);
        auto etag = (*fields)[4] == "-" ? std::optional<std::string>("") : detail::state_decode((*fields)[4]);
        if (!number || *number == 0 || !size || !checksum || !etag) {
            ++s.skipped_lines;
            continue;
        }
        s.parts[*number] = recorded_part{*size, std::move(*checksum), std::move(*etag)};
    }
    if (!header) return std::nullopt;
    return s;
}

/// The state files of one destination (see the top of this header). Loop thread only.
class upload_state_store {
public:
    /// Creates the directory; throws std::system_error naming it when it cannot.
    upload_state_store(io_loop& loop, std::filesystem::path directory) : loop_(&loop), dir_(std::move(directory)) {
        std::filesystem::create_directories(dir_);
    }

    /// The folder the state files live in.
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }

    /// Reads every state file. A file that is not a valid state is reported to `problem` and moved
    /// aside (*.corrupt): its upload cannot be resumed or aborted by sluice (S3's lifecycle rule
    /// AbortIncompleteMultipartUpload ends it).
    void load(const std::function<void(const std::string&)>& problem) {
        states_.clear();
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
            const auto& path = entry.path();
            if (path.extension() == ".tmp") {
                std::filesystem::remove(path, ec);
                continue;
            }
            if (path.extension() != ".upload") continue;
            std::ifstream in(path, std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            auto state = parse_upload_state(text.str());
            if (!state || path.stem().string() != file_stem(state->sequence)) {
                if (problem) problem("upload state " + path.string() + " is unreadable; moved aside");
                std::filesystem::rename(path, path.string() + ".corrupt", ec);
                continue;
            }
            if (state->skipped_lines != 0 && problem)
                problem("upload state " + path.string() + ": " + std::to_string(state->skipped_lines) +
                        " damaged part line(s) skipped (ListParts decides)");
            states_[state->sequence] = std::move(*state);
        }
    }

    /// The state of object `sequence`, if there is one; it is then claimed.
    [[nodiscard]] std::optional<upload_state> claim(std::uint64_t sequence) {
        const auto it = states_.find(sequence);
        if (it == states_.end()) return std::nullopt;
        upload_state s = std::move(it->second);
        states_.erase(it);
        return s;
    }

    /// The states nothing claimed (their uploads are abandoned); they are then forgotten.
    [[nodiscard]] std::vector<upload_state> take_unclaimed() {
        std::vector<upload_state> out;
        for (auto& [seq, s] : states_) out.push_back(std::move(s));
        states_.clear();
        return out;
    }

    /// Writes a new state file durably (temporary name, fdatasync, rename, fsync of the folder).
    task<void> create(const upload_state& s) {
        const std::string text = encode_upload_header(s);
        const std::filesystem::path final_path = path_of(s.sequence);
        const std::string temp = final_path.string() + ".tmp";
        const int fd = co_await loop_->open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        std::exception_ptr failed;
        try {
            co_await loop_->write_all(fd, std::as_bytes(std::span<const char>(text.data(), text.size())), 0);
            co_await loop_->fdatasync(fd);
        } catch (...) {
            failed = std::current_exception();
        }
        co_await loop_->close(fd);
        if (failed) std::rethrow_exception(failed);
        if (::rename(temp.c_str(), final_path.c_str()) != 0)
            throw std::system_error(errno, std::generic_category(), "rename " + final_path.string());
        sync_directory();
        sizes_[s.sequence] = text.size();
    }

    /// Appends a part line (not synced: ListParts is what a resume trusts).
    task<void> add_part(std::uint64_t sequence, std::uint32_t number, const recorded_part& p) {
        const std::string line = encode_upload_part(number, p);
        const std::string path = path_of(sequence).string();
        const int fd = co_await loop_->open(path.c_str(), O_WRONLY | O_CLOEXEC, 0644);
        std::exception_ptr failed;
        try {
            const std::uint64_t at = end_of(sequence, fd);
            co_await loop_->write_all(fd, std::as_bytes(std::span<const char>(line.data(), line.size())), at);
            sizes_[sequence] = at + line.size();
        } catch (...) {
            failed = std::current_exception();
        }
        co_await loop_->close(fd);
        if (failed) std::rethrow_exception(failed);
    }

    /// Removes the state of object `sequence`.
    void remove(std::uint64_t sequence) {
        std::error_code ec;
        std::filesystem::remove(path_of(sequence), ec);
        sizes_.erase(sequence);
    }

    /// The state file of object `sequence`.
    [[nodiscard]] std::filesystem::path path_of(std::uint64_t sequence) const {
        return dir_ / (file_stem(sequence) + ".upload");
    }

private:
    static std::string file_stem(std::uint64_t sequence) {
        char name[32];
        std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(sequence));
        return name;
    }

    std::uint64_t end_of(std::uint64_t sequence, int fd) {
        if (const auto it = sizes_.find(sequence); it != sizes_.end()) return it->second;
        const off_t end = ::lseek(fd, 0, SEEK_END);
        return end < 0 ? 0 : static_cast<std::uint64_t>(end);
    }

    void sync_directory() const {
        const int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return;
        (void)::fsync(fd);
        ::close(fd);
    }

    io_loop* loop_;
    std::filesystem::path dir_;
    std::map<std::uint64_t, upload_state> states_;
    std::map<std::uint64_t, std::uint64_t> sizes_;
};

} // namespace sluice::objects
