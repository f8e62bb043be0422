#pragma once

// Whole-object compression off the caller's thread. An object writer runs on the io loop's thread,
// and compressing its output (zstd level 1 runs at about the speed of parsing the JSON records it
// holds) would stall every other coroutine of the loop for as long. Here an object's stream
// compressor runs on a small process-wide pool of threads instead: the writer hands over its raw
// text a chunk at a time and collects whatever compressed output is ready, so the loop parses and
// encodes the next records while a second core compresses the previous ones.
//
// Each object is one background_stream: its chunks are compressed in order by one pool thread at a
// time (a stream is queued on the pool at most once), so the output is byte for byte what the
// same compressor produces inline. At most `max_queued_bytes` of raw text wait per stream; beyond
// that the writer waits for the pool (backpressure, bounded memory per open object).

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include <sluice/codec/stream_compression.hpp>
#include <sluice/core/event.hpp>

namespace sluice::detail {

class background_stream;

/// Threads that compress background_streams; one pool per process (shared()), started on first use
/// and never torn down: its threads wait on it until the process ends, so nothing can outlive it and a
/// fork()ed child (where the threads do not exist) never joins or destroys what was copied from the
/// parent.
class compression_pool {
public:
    compression_pool(const compression_pool&) = delete;
    compression_pool& operator=(const compression_pool&) = delete;

    /// The process's pool: one thread per two cores, at least 1 and at most 4, so the loop keeps a
    /// core. A fork()ed child gets a pool of its own on first use; writers created before the fork
    /// must not be used in the child.
    [[nodiscard]] static compression_pool& shared() {
        static std::mutex m;
        static compression_pool* pool = nullptr;
        const std::lock_guard lock(m);
        if (pool == nullptr || pool->owner_ != ::getpid()) {
            const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
            pool = new compression_pool(std::clamp((cores + 1) / 2, 1u, 4u)); // lives as long as the process
        }
        return *pool;
    }

    /// Queues `s` to have its waiting chunks compressed (the caller has marked it scheduled).
    void schedule(std::shared_ptr<background_stream> s) {
        {
            const std::lock_guard lock(m_);
            ready_.push_back(std::move(s));
        }
        work_.notify_one();
    }

private:
    explicit compression_pool(unsigned threads) : owner_(::getpid()) {
        for (unsigned i = 0; i < threads; ++i) std::thread([this] { run(); }).detach();
    }
    ~compression_pool() = default; // never called: see shared()
    inline void run();

    std::mutex m_;
    std::condition_variable work_;
    std::deque<std::shared_ptr<background_stream>> ready_;
    pid_t owner_;
};

/// One object's compressor, fed by its writer's thread and run on compression_pool's threads.
class background_stream : public std::enable_shared_from_this<background_stream> {
public:
    /// Throws like stream_compressor (an unknown codec or a level out of range), on the caller's thread.
    background_stream(compression_pool& pool, compression codec, int level, std::size_t max_queued_bytes)
        : pool_(&pool), compressor_(codec, level), max_queued_(max_queued_bytes), memory_(compressor_.memory_bytes()) {}

    /// Hands `chunk` over (it is left empty, with a recycled buffer's capacity when one is spare);
    /// waits while the stream already holds max_queued_bytes. Rethrows a compression failure.
    void submit(std::string& chunk) {
        if (chunk.empty()) return;
        std::unique_lock lock(m_);
        changed_.wait(lock, [&] { return queued_ < max_queued_ || error_; });
        if (error_) std::rethrow_exception(error_);
        queued_ += chunk.size();
        queue_.push_back(std::move(chunk));
        chunk = std::string();
        if (!spare_.empty()) {
            chunk.swap(spare_.back());
            spare_.pop_back();
        }
        schedule(lock);
    }

    /// Asks the pool to end the stream with `last` (taken; may be empty) after the chunks handed
    /// over, without waiting; ended() is set when that is done or compression failed.
    void request_end(std::string& last) {
        std::unique_lock lock(m_);
        if (finish_) return;
        finish_ = true;
        queued_ += last.size();
        last_ = std::move(last);
        last.clear();
        schedule(lock);
    }

    /// Set (from a pool thread) once the stream has ended or failed: a coroutine awaits it instead
    /// of blocking its loop in finish().
    [[nodiscard]] async_event& ended() noexcept { return ended_; }

    /// Ends the stream with `last` (as request_end) and waits until it is compressed.
    void finish(std::string& last) {
        request_end(last);
        std::unique_lock lock(m_);
        changed_.wait(lock, [&] { return finished_ || error_; });
        if (error_) std::rethrow_exception(error_);
    }

    /// Appends the compressed output that is ready to `out`. Rethrows a compression failure.
    void collect(std::string& out) {
        const std::lock_guard lock(m_);
        if (error_) std::rethrow_exception(error_);
        if (out.empty())
            out.swap(done_);
        else
            out.append(done_);
        done_.clear();
    }

    /// The writer is gone: chunks not yet compressed are dropped (the pool lets go of the stream).
    void abandon() noexcept {
        const std::lock_guard lock(m_);
        abandoned_ = true;
        queue_.clear();
    }

    /// The compressor's state, the raw text waiting and the output not collected, in bytes.
    [[nodiscard]] std::size_t memory_bytes() const {
        const std::lock_guard lock(m_);
        std::size_t n = memory_ + queued_ + done_.capacity();
        for (const auto& s : spare_) n += s.capacity();
        return n;
    }

    /// Runs on a pool thread: compresses the waiting chunks in order, then the last piece and the
    /// end if asked.
    void drain() {
        std::unique_lock lock(m_);
        while (!abandoned_ && !error_ && (!queue_.empty() || (finish_ && !finished_))) {
            const bool end = queue_.empty();
            std::string chunk = std::move(end ? last_ : queue_.front());
            if (!end) queue_.pop_front();
            lock.unlock();
            std::exception_ptr failure;
            try {
                if (end)
                    compressor_.finish(chunk, scratch_); // releases the library's state
                else
                    compressor_.write(chunk, scratch_);
            } catch (...) {
                failure = std::current_exception();
            }
            lock.lock();
            settle(chunk, end, failure);
        }
        scheduled_ = false;
        const bool ended = finished_ || error_;
        changed_.notify_all();
        lock.unlock();
        if (ended) ended_.set(); // outside the lock: set() may resume a waiter inline
    }

private:
    // Queues the stream on the pool unless it is there already; unlocks `lock`.
    void schedule(std::unique_lock<std::mutex>& lock) {
        const bool queue_it = !scheduled_;
        scheduled_ = true;
        lock.unlock();
        if (queue_it) pool_->schedule(shared_from_this());
    }

    // Publishes one compressed chunk (with the stream's end when `end`) under the lock.
    void settle(std::string& chunk, bool end, std::exception_ptr failure) {
        if (failure) error_ = failure;
        if (end) finished_ = true;
        done_.append(scratch_);
        scratch_.clear();
        queued_ -= std::min(queued_, chunk.size());
        memory_ = compressor_.memory_bytes();
        chunk.clear();
        if (chunk.capacity() > 0 && spare_.empty()) spare_.push_back(std::move(chunk));
        changed_.notify_all();
    }

    compression_pool* pool_;
    mutable std::mutex m_;
    std::condition_variable changed_;
    stream_compressor compressor_; // used only by the pool thread draining the stream
    std::string scratch_;          // likewise
    std::deque<std::string> queue_;
    std::string last_; // the piece that ends the stream, once request_end() ran
    std::vector<std::string> spare_;
    std::string done_;
    std::size_t max_queued_;
    std::size_t queued_ = 0;
    std::size_t memory_;
    std::exception_ptr error_;
    async_event ended_;
    bool scheduled_ = false;
    bool finish_ = false;
    bool finished_ = false;
    bool abandoned_ = false;
};

/// The writer's handle on its background_stream (on the process's shared pool): abandons the stream
/// when the writer lets go of it (destroyed or assigned over), so the pool drops the chunks nobody
/// will collect.
class background_owner {
public:
    background_owner() = default;
    background_owner(compression codec, int level, std::size_t max_queued_bytes)
        : stream_(std::make_shared<background_stream>(compression_pool::shared(), codec, level, max_queued_bytes)) {}
    ~background_owner() { release(); }
    background_owner(background_owner&& other) noexcept : stream_(std::move(other.stream_)) {}
    background_owner& operator=(background_owner&& other) noexcept {
        if (this != &other) {
            release();
            stream_ = std::move(other.stream_);
        }
        return *this;
    }
    background_owner(const background_owner&) = delete;
    background_owner& operator=(const background_owner&) = delete;

    explicit operator bool() const noexcept { return stream_ != nullptr; }
    background_stream* operator->() const noexcept { return stream_.get(); }

private:
    void release() noexcept {
        if (stream_) stream_->abandon();
        stream_.reset();
    }
    std::shared_ptr<background_stream> stream_;
};

void compression_pool::run() {
    ::pthread_setname_np(::pthread_self(), "sluice-compress");
    for (;;) {
        std::shared_ptr<background_stream> s;
        {
            std::unique_lock lock(m_);
            work_.wait(lock, [&] { return !ready_.empty(); });
            s = std::move(ready_.front());
            ready_.pop_front();
        }
        s->drain();
    }
}

} // namespace sluice::detail
