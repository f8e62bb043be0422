#pragma once

// epoll fallback for kernels or sandboxes that refuse io_uring. Socket readiness goes through epoll;
// regular files are always "ready" to epoll, so file ops run synchronously at start().

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <sluice/io/detail/backend.hpp>

namespace sluice::detail {

class epoll_backend final : public io_backend_base {
public:
    epoll_backend() {
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) {
            int e = errno;
            ::close(epoll_fd_);
            throw std::system_error(e, std::system_category(), "eventfd");
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &wake_fd_;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) {
            int e = errno;
            ::close(wake_fd_);
            ::close(epoll_fd_);
            throw std::system_error(e, std::system_category(), "epoll_ctl(eventfd)");
        }
    }

    ~epoll_backend() override {
        ::close(wake_fd_);
        ::close(epoll_fd_);
    }

    epoll_backend(const epoll_backend&) = delete;
    epoll_backend& operator=(const epoll_backend&) = delete;

    bool start(io_op* op) override {
        switch (op->kind) {
        case io_op_kind::poll: return start_poll(op);
        case io_op_kind::read: op->result = sys(::pread(op->fd, op->buffer, op->length, off(op))); return true;
        case io_op_kind::write: op->result = sys(::pwrite(op->fd, op->buffer, op->length, off(op))); return true;
        case io_op_kind::fsync: op->result = sys(::fsync(op->fd)); return true;
        case io_op_kind::fdatasync: op->result = sys(::fdatasync(op->fd)); return true;
        case io_op_kind::open:
            op->result = sys(::openat(AT_FDCWD, op->path, op->open_flags | O_CLOEXEC, op->mode));
            return true;
        case io_op_kind::close: op->result = sys(::close(op->fd)); return true;
        case io_op_kind::timer: return true;
        }
        return true;
    }

    void cancel(io_op* op) override {
        auto it = fds_.find(op->fd);
        if (it == fds_.end()) return;
        auto& ops = it->second.ops;
        auto pos = std::find(ops.begin(), ops.end(), op);
        if (pos == ops.end()) return;
        ops.erase(pos);
        op->result = -ECANCELED;
        cancelled_.push_back(op);
        update_interest(it);
    }

    bool wait(std::chrono::nanoseconds timeout, std::vector<io_op*>& done) override {
        if (!cancelled_.empty()) {
            done.insert(done.end(), cancelled_.begin(), cancelled_.end());
            cancelled_.clear();
            timeout = std::chrono::nanoseconds::zero();
        }
        int ms = -1;
        if (timeout.count() >= 0) {
            // Round up so a 0.3 ms timer doesn't spin on zero-length waits.
            ms = static_cast<int>(std::min<std::int64_t>((timeout.count() + 999'999) / 1'000'000, 1 << 30));
        }
        epoll_event events[64];
        int n = ::epoll_wait(epoll_fd_, events, 64, ms);
        if (n < 0) {
            if (errno == EINTR) return false;
            throw std::system_error(errno, std::system_category(), "epoll_wait");
        }
        bool woken = false;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == &wake_fd_) {
                std::uint64_t value;
                while (::read(wake_fd_, &value, sizeof value) > 0) {}
                woken = true;
                continue;
            }
            int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
            auto it = fds_.find(fd);
            if (it == fds_.end()) continue;
            std::uint32_t revents = events[i].events;
            auto& ops = it->second.ops;
            std::uint32_t always = EPOLLERR | EPOLLHUP;
            for (auto op_it = ops.begin(); op_it != ops.end();) {
                io_op* op = *op_it;
                std::uint32_t hit = revents & (op->events | always);
                if (hit != 0) {
                    op->result = static_cast<int>(hit);
                    done.push_back(op);
                    op_it = ops.erase(op_it);
                } else {
                    ++op_it;
                }
            }
            update_interest(it);
        }
        return woken;
    }

    void wake() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }

private:
    struct fd_state {
        std::uint32_t registered = 0; // the interest mask epoll currently holds for the fd
        std::vector<io_op*> ops;      // polls waiting on the fd, in arrival order
    };
    using fd_map = std::unordered_map<int, fd_state>;

    static int sys(long rc) noexcept { return rc < 0 ? -errno : static_cast<int>(rc); }
    static off_t off(const io_op* op) noexcept { return static_cast<off_t>(op->offset); }

    bool start_poll(io_op* op) {
        auto [it, inserted] = fds_.try_emplace(op->fd);
        it->second.ops.push_back(op);
        int rc = update_interest(it);
        if (rc < 0) {
            // epoll refuses some fds (regular files: EPERM); report that through the op.
            auto& ops = it->second.ops;
            ops.erase(std::find(ops.begin(), ops.end(), op));
            if (ops.empty() && it->second.registered == 0) fds_.erase(it);
            op->result = rc;
            return true;
        }
        return false;
    }

    /// Brings epoll's interest for the fd in line with the polls waiting on it.
    int update_interest(fd_map::iterator it) {
        int fd = it->first;
        fd_state& st = it->second;
        std::uint32_t want = 0;
        for (io_op* op : st.ops) want |= op->events;
        if (st.ops.empty()) {
            if (st.registered != 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
            fds_.erase(it);
            return 0;
        }
        if (want == st.registered) return 0;
        epoll_event ev{};
        ev.events = want;
        ev.data.u64 = static_cast<std::uint32_t>(fd);
        int rc = ::epoll_ctl(epoll_fd_, st.registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
        if (rc < 0 && errno == ENOENT) rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        if (rc < 0 && errno == EEXIST) rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
        if (rc < 0) return -errno;
        st.registered = want;
        return 0;
    }

    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    fd_map fds_;
    std::vector<io_op*> cancelled_;
};

} // namespace sluice::detail
