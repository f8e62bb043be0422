#pragma once

// local_directory: objects as files below a root directory, written through the io_loop.
//
// An object is written under a temporary name in the engine's staging directory (by default
// <root>/.sluice-staging/<name>/, on the same file system, so readers that list the data set never see
// it) and renamed to <root>/<key> once complete, so a reader never sees half a file. With
// file_sync::object (the default) the file is fdatasync'ed before the rename and the folder fsync'ed
// after it: the object is durable when complete() returns, which is when the engine acknowledges its
// records. With file_sync::none the kernel decides when the bytes reach the disk (faster; a crash of
// the machine, not only of the process, can then lose objects the engine believed written).
//
// A failed write (ENOSPC, EIO) is tried again with backoff under the retry options, at the same
// offset; when attempts run out the object fails (its records stay in the journal and are written
// again after the next start). At open() the staging directory is emptied: the journal rebuilds every
// object that was not complete.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/delivery/backoff.hpp>
#include <sluice/formats/object_format.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/objects/destination.hpp>
#include <sluice/objects/retry.hpp>

namespace sluice::objects {

/// When a local file is synced to disk.
enum class file_sync : std::uint8_t {
    object, ///< fdatasync before the rename, fsync of the folder after it (durable on complete())
    none,   ///< never: the kernel writes back on its own
};

/// Options of a local_directory.
struct local_directory_options {
    /// Objects are written to `<root>/<key>`. Created if missing.
    std::filesystem::path root;
    /// Names the staging folder (`<root>/.sluice-staging/<name>`): one per engine writing to the root.
    std::string name = "objects";
    /// Where temporary files go instead (must be on the root's file system for the rename).
    std::filesystem::path staging{};
    /// When written files are forced to disk (see file_sync).
    file_sync sync = file_sync::object;
    /// Permissions of the files and folders created (before the umask).
    mode_t file_permissions = 0644;
    /// Failed writes are tried again under these.
    retry_options retry{.max_attempts = 5, .initial_backoff = std::chrono::milliseconds(50)};
};

class local_directory;

namespace detail {

/// One file being written (see local_directory).
class local_file_upload final : public object_upload {
public:
    local_file_upload(local_directory& dir, object_description d);
    ~local_file_upload() override {
        if (fd_ >= 0) ::close(fd_);
    }

    task<void> write(std::string bytes) override;
    task<object_result> complete() override;
    task<void> abort() override;
    [[nodiscard]] std::optional<outcome> failure() const override { return failure_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return writing_; }

private:
    task<outcome> write_once(std::span<const std::byte> bytes);
    task<outcome> finish_file(const std::filesystem::path& final_path);

    local_directory* dir_;
    object_description object_;
    std::filesystem::path temp_;
    int fd_ = -1;
    std::uint64_t offset_ = 0;
    std::size_t writing_ = 0;
    unsigned retries_ = 0;
    std::optional<outcome> failure_{};
};

} // namespace detail

/// Objects as files below a directory (see the top of this header).
class local_directory final : public object_destination {
public:
    /// Creates the root and staging folders; throws std::system_error naming the folder when it cannot.
    local_directory(io_loop& loop, local_directory_options options)
        : loop_(&loop), options_(std::move(options)), backoff_(options_.retry) {
        if (options_.root.empty()) throw std::invalid_argument("sluice::objects::local_directory: no root directory");
        if (options_.staging.empty()) options_.staging = options_.root / ".sluice-staging" / options_.name;
        std::filesystem::create_directories(options_.root);
        std::filesystem::create_directories(options_.staging);
    }

    [[nodiscard]] std::string_view kind() const noexcept override { return "local"; }
    /// The options it was made with.
    [[nodiscard]] const local_directory_options& options() const noexcept { return options_; }
    /// The loop its file operations run on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    /// How failed writes are retried.
    [[nodiscard]] backoff_policy& backoff() noexcept { return backoff_; }

    /// Removes the temporary files of the previous run (the journal rebuilds their objects).
    task<void> open() override {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(options_.staging, ec))
            if (entry.path().extension() == ".tmp") std::filesystem::remove(entry.path(), ec);
        co_return;
    }

    std::unique_ptr<object_upload> begin(const object_description& object) override {
        return std::make_unique<detail::local_file_upload>(*this, object);
    }

    task<void> recovered() override { co_return; }

    /// The final path of `key`.
    [[nodiscard]] std::filesystem::path path_of(std::string_view key) const { return options_.root / key; }

    /// Fsyncs the folder `dir` (so a rename in it is durable).
    static void sync_folder(const std::filesystem::path& dir) {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + dir.string());
        const int rc = ::fsync(fd);
        const int e = errno;
        ::close(fd);
        if (rc != 0) throw std::system_error(e, std::generic_category(), "fsync " + dir.string());
    }

private:
    io_loop* loop_;
    local_directory_options options_;
    backoff_policy backoff_;
};

namespace detail {

inline local_file_upload::local_file_upload(local_directory& dir, object_description d)
    : dir_(&dir), object_(std::move(d)) {
    char name[48];
    std::snprintf(name, sizeof name, "%020llu.tmp", static_cast<unsigned long long>(object_.sequence));
    temp_ = dir.options().staging / name;
}

inline task<void> local_file_upload::write(std::string bytes) {
    if (failure_ || bytes.empty()) co_return;
    writing_ = bytes.size();
    const auto view = std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
    auto attempt = [&]() { return write_once(view); };
    outcome o = co_await with_retries(dir_->loop(), dir_->backoff(), attempt, retries_);
    writing_ = 0;
    if (!o.is_ok()) {
        failure_ = std::move(o);
        co_return;
    }
    offset_ += bytes.size();
    formats::recycle_output(std::move(bytes));
}

inline task<outcome> local_file_upload::write_once(std::span<const std::byte> bytes) {
    std::string why;
    std::error_code code;
    try {
        if (fd_ < 0) {
            const std::string path = temp_.string();
            fd_ = co_await dir_->loop().open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                                             dir_->options().file_permissions);
        }
        co_await dir_->loop().write_all(fd_, bytes, offset_);
        co_return outcome::ok();
    } catch (const std::system_error& e) {
        code = e.code();
        why = e.what();
    }
    outcome o = outcome::retry("writing " + temp_.string() + ": " + why);
    o.code = code;
    co_return o;
}

inline task<object_result> local_file_upload::complete() {
    object_result r;
    const std::filesystem::path final_path = dir_->path_of(object_.key);
    r.location = final_path.string();
    r.bytes = offset_;
    if (failure_) {
        r.status = *failure_;
        r.retries = retries_;
        co_return r;
    }
    auto attempt = [&]() { return finish_file(final_path); };
    r.status = co_await with_retries(dir_->loop(), dir_->backoff(), attempt, retries_);
    r.retries = retries_;
    co_return r;
}

inline task<outcome> local_file_upload::finish_file(const std::filesystem::path& final_path) {
    std::string why;
    std::error_code code;
    try {
        if (fd_ < 0) { // an empty object
            const std::string path = temp_.string();
            fd_ = co_await dir_->loop().open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                                             dir_->options().file_permissions);
        }
        const bool sync = dir_->options().sync == file_sync::object;
        if (sync) co_await dir_->loop().fdatasync(fd_);
        const int fd = fd_;
        fd_ = -1;
        co_await dir_->loop().close(fd);
        std::filesystem::create_directories(final_path.parent_path());
        if (::rename(temp_.c_str(), final_path.c_str()) != 0)
            throw std::system_error(errno, std::generic_category(), "rename to " + final_path.string());
        if (sync) local_directory::sync_folder(final_path.parent_path());
        co_return outcome::ok();
    } catch (const std::system_error& e) { // filesystem_error included
        code = e.code();
        why = e.what();
    }
    // The file may be closed already: reopen it (its bytes are on the page cache or the disk).
    if (fd_ < 0 && ::access(temp_.c_str(), F_OK) == 0) fd_ = ::open(temp_.c_str(), O_WRONLY | O_CLOEXEC);
    outcome o = outcome::retry("completing " + final_path.string() + ": " + why);
    o.code = code;
    co_return o;
}

inline task<void> local_file_upload::abort() {
    if (fd_ >= 0) {
        const int fd = fd_;
        fd_ = -1;
        co_await dir_->loop().close(fd);
    }
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
}

} // namespace detail
} // namespace sluice::objects
