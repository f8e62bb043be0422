#pragma once

// Recycles same-size heap blocks for objects made and dropped once per record (the batch dispatcher's
// per-record state, through std::allocate_shared). malloc/free per record cost about 15 % of the
// Kinesis path's CPU, and blocks of different lifetimes interleaved with request bodies fragmented the
// heap (its peak grew by 40 % over a run while the bytes in use stayed flat). One thread; blocks of
// another size, or beyond `max_spare` freed ones, go to operator new/delete. Off under
// AddressSanitizer, like frame recycling (it would hide use-after-free).
//
// The owner may go before the last block (a shared_ptr kept elsewhere): block_pool_owner's destructor
// retires the pool, which frees its spare blocks and deletes itself when its last block comes back.

#include <cstddef>
#include <new>
#include <utility>

#include <sluice/core/detail/frame_allocator.hpp>

namespace sluice::detail {

/// Same-size blocks recycled on one thread (see the file comment).
class block_pool {
public:
    block_pool(const block_pool&) = delete;
    block_pool& operator=(const block_pool&) = delete;

    /// A pool whose spare list keeps at most `max_spare` blocks; owned by a block_pool_owner.
    [[nodiscard]] static block_pool* create(std::size_t max_spare) { return new block_pool(max_spare); }

    /// `n` bytes aligned for any object up to __STDCPP_DEFAULT_NEW_ALIGNMENT__.
    [[nodiscard]] void* allocate(std::size_t n) {
        if (block_size_ == 0) block_size_ = n; // the first size asked for is the pool's
        ++live_;
        if (SLUICE_FRAME_RECYCLING && n == block_size_ && spare_ != nullptr) {
            spare* s = spare_;
            spare_ = s->next;
            --spare_count_;
            return s;
        }
        try {
            return ::operator new(n);
        } catch (...) {
            --live_;
            throw;
        }
    }

    /// Gives back a block of `n` bytes from allocate().
    void deallocate(void* p, std::size_t n) noexcept {
        --live_;
        if (SLUICE_FRAME_RECYCLING && !retired_ && n == block_size_ && n >= sizeof(spare) && spare_count_ < max_spare_) {
            auto* s = ::new (p) spare{spare_};
            spare_ = s;
            ++spare_count_;
        } else {
            ::operator delete(p);
        }
        if (retired_ && live_ == 0) delete this;
    }

    /// The owner is gone: spare blocks are freed now, the pool itself with its last live block.
    void retire() noexcept {
        retired_ = true;
        while (spare_ != nullptr) ::operator delete(std::exchange(spare_, spare_->next));
        spare_count_ = 0;
        if (live_ == 0) delete this;
    }

    /// Blocks handed out and not given back.
    [[nodiscard]] std::size_t live() const noexcept { return live_; }
    /// Freed blocks kept for reuse.
    [[nodiscard]] std::size_t spares() const noexcept { return spare_count_; }

private:
    struct spare {
        spare* next;
    };
    explicit block_pool(std::size_t max_spare) : max_spare_(max_spare) {}
    ~block_pool() = default;

    std::size_t block_size_ = 0;
    std::size_t max_spare_;
    std::size_t live_ = 0;
    std::size_t spare_count_ = 0;
    spare* spare_ = nullptr;
    bool retired_ = false;
};

/// Owns a block_pool for its lifetime (see block_pool::retire).
class block_pool_owner {
public:
    /// A pool keeping at most `max_spare` freed blocks.
    explicit block_pool_owner(std::size_t max_spare) : pool_(block_pool::create(max_spare)) {}
    block_pool_owner(const block_pool_owner&) = delete;
    block_pool_owner& operator=(const block_pool_owner&) = delete;
    ~block_pool_owner() { pool_->retire(); }

    /// The pool.
    [[nodiscard]] block_pool& get() const noexcept { return *pool_; }

private:
    block_pool* pool_;
};

/// A standard allocator drawing from a block_pool (for std::allocate_shared).
template <class T>
struct pool_allocator {
    using value_type = T;

    block_pool* pool;

    explicit pool_allocator(block_pool& p) noexcept : pool(&p) {}
    template <class U>
    pool_allocator(const pool_allocator<U>& o) noexcept : pool(o.pool) {} // NOLINT: rebinding converts implicitly

    [[nodiscard]] T* allocate(std::size_t n) { return static_cast<T*>(pool->allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { pool->deallocate(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const pool_allocator<U>& o) const noexcept {
        return pool == o.pool;
    }
};

} // namespace sluice::detail
