#pragma once

// Object sequence numbers that stay unique across restarts: the engine reserves them in blocks and
// records the end of the block it uses in a small file (written to a temporary name, synced, renamed),
// so after a crash numbering resumes after the last block, never inside it.

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace sluice::objects::detail {

/// Hands out sequence numbers (see the top of this header). Loop thread only.
class sequence_file {
public:
    static constexpr std::uint64_t block = 1024;

    explicit sequence_file(std::filesystem::path path) : path_(std::move(path)) {
        std::ifstream in(path_);
        std::stringstream text;
        text << in.rdbuf();
        const std::string s = text.str();
        std::uint64_t v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec == std::errc{}) next_ = reserved_ = v;
    }

    /// The next number is at least `n` (numbers the journal shows in use).
    void at_least(std::uint64_t n) noexcept {
        if (next_ < n) next_ = n;
    }

    /// A new number; reserves (and records durably) a new block when the current one is used up.
    /// Throws std::system_error when the file cannot be written.
    std::uint64_t take() {
        if (next_ >= reserved_) reserve(next_ + block);
        return next_++;
    }

private:
    void reserve(std::uint64_t end) {
        const std::string text = std::to_string(end) + "\n";
        const std::string temp = path_.string() + ".tmp";
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + temp);
        const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fdatasync(fd) == 0;
        const int e = errno;
        ::close(fd);
        if (!ok) throw std::system_error(e, std::generic_category(), "write " + temp);
        if (::rename(temp.c_str(), path_.c_str()) != 0)
            throw std::system_error(errno, std::generic_category(), "rename " + path_.string());
        const int dir = ::open(path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            (void)::fsync(dir);
            ::close(dir);
        }
        reserved_ = end;
    }

    std::filesystem::path path_;
    std::uint64_t next_ = 0;
    std::uint64_t reserved_ = 0;
};

} // namespace sluice::objects::detail
