#pragma once

// io_uring backend. Submissions are batched: start() only fills SQEs, and wait() submits them together
// with the wait in one io_uring_enter. The wake-up eventfd is read by a standing READ op whose tag is the
// address of the counter it reads into.

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include <sluice/io/detail/backend.hpp>

namespace sluice::detail {

class uring_backend final : public io_backend_base {
public:
    /// Throws std::system_error when the kernel refuses io_uring (seccomp in containers: EPERM/ENOSYS).
    explicit uring_backend(unsigned entries) {
        io_uring_params params{};
        // COOP_TASKRUN avoids interrupting the loop thread for completions it will reap anyway; older
        // kernels reject the flag, so retry without it.
        params.flags = IORING_SETUP_COOP_TASKRUN;
        int rc = io_uring_queue_init_params(entries, &ring_, &params);
        if (rc == -EINVAL) {
            params = io_uring_params{};
            rc = io_uring_queue_init_params(entries, &ring_, &params);
        }
        if (rc < 0) throw std::system_error(-rc, std::system_category(), "io_uring_queue_init");
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) {
            int e = errno;
            io_uring_queue_exit(&ring_);
            throw std::system_error(e, std::system_category(), "eventfd");
        }
        arm_wake_read();
    }

    ~uring_backend() override {
        io_uring_queue_exit(&ring_);
        ::close(wake_fd_);
    }

    uring_backend(const uring_backend&) = delete;
    uring_backend& operator=(const uring_backend&) = delete;

    bool start(io_op* op) override {
        io_uring_sqe* sqe = get_sqe();
        switch (op->kind) {
        case io_op_kind::poll: io_uring_prep_poll_add(sqe, op->fd, op->events); break;
        case io_op_kind::read:
            io_uring_prep_read(sqe, op->fd, op->buffer, static_cast<unsigned>(op->length), op->offset);
            break;
        case io_op_kind::write:
            io_uring_prep_write(sqe, op->fd, op->buffer, static_cast<unsigned>(op->length), op->offset);
            break;
        case io_op_kind::fsync: io_uring_prep_fsync(sqe, op->fd, 0); break;
        case io_op_kind::fdatasync: io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC); break;
        case io_op_kind::open: io_uring_prep_openat(sqe, AT_FDCWD, op->path, op->open_flags, op->mode); break;
        case io_op_kind::close: io_uring_prep_close(sqe, op->fd); break;
        case io_op_kind::timer: break; // timers are the loop's; never reach a backend
        }
        io_uring_sqe_set_data(sqe, op);
        ++in_flight_;
        return false;
    }

    void cancel(io_op* op) override {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(op), 0);
        io_uring_sqe_set_data(sqe, nullptr); // the cancel's own completion carries nothing
    }

    bool wait(std::chrono::nanoseconds timeout, std::vector<io_op*>& done) override {
        io_uring_cqe* cqe = nullptr;
        int rc;
        if (timeout.count() == 0) {
            rc = io_uring_submit(&ring_);
        } else if (timeout.count() < 0) {
            rc = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{};
            ts.tv_sec = static_cast<long long>(timeout.count() / 1'000'000'000);
            ts.tv_nsec = static_cast<long long>(timeout.count() % 1'000'000'000);
            rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        }
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            throw std::system_error(-rc, std::system_category(), "io_uring_enter");

        bool woken = false;
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            void* tag = io_uring_cqe_get_data(cqe);
            if (tag == nullptr) continue;
            if (tag == &wake_value_) {
                woken = true;
                wake_armed_ = false;
                continue;
            }
            auto* op = static_cast<io_op*>(tag);
            op->result = cqe->res;
            --in_flight_;
            done.push_back(op);
        }
        io_uring_cq_advance(&ring_, seen);
        if (!wake_armed_) arm_wake_read();
        return woken;
    }

    void wake() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }

private:
    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        while (sqe == nullptr) {
            // The submission queue is full: hand what we have to the kernel and retry.
            int rc = io_uring_submit(&ring_);
            if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR)
                throw std::system_error(-rc, std::system_category(), "io_uring_submit");
            sqe = io_uring_get_sqe(&ring_);
        }
        return sqe;
    }

    void arm_wake_read() {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
        io_uring_sqe_set_data(sqe, &wake_value_);
        wake_armed_ = true;
    }

    io_uring ring_{};
    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;
    bool wake_armed_ = false;
    std::size_t in_flight_ = 0;
};

} // namespace sluice::detail
