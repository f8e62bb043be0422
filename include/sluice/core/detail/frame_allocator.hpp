#pragma once

// Recycles coroutine frames per thread. A task per processed event would otherwise cost a malloc/free
// pair each; here a freed frame goes on a small per-thread free list by size class and the next frame
// of that size reuses it. Frames freed on another thread land in that thread's lists, bounded in count.
// Off under AddressSanitizer (it would hide use-after-free of frames) or with SLUICE_NO_FRAME_RECYCLING.

#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_DETAIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_DETAIL_ASAN 1
#endif
#endif

#if !defined(SLUICE_NO_FRAME_RECYCLING) && !defined(SLUICE_DETAIL_ASAN)
#define SLUICE_FRAME_RECYCLING 1
#else
#define SLUICE_FRAME_RECYCLING 0
#endif

namespace sluice::detail {

class frame_cache {
public:
    static constexpr std::size_t granularity = 64;
    static constexpr std::size_t classes = 16; // frames up to 1 KiB are recycled
    static constexpr unsigned per_class = 64;

    frame_cache() = default;
    frame_cache(const frame_cache&) = delete;
    frame_cache& operator=(const frame_cache&) = delete;
    ~frame_cache() {
        for (auto& head : heads_) {
            while (head) {
                block* b = head;
                head = b->next;
                std::free(b);
            }
        }
    }

    // Not inlined: when GCC 12 sees the allocation behind a frame's operator new it pairs it with the
    // frame's operator delete and warns (-Wmismatched-new-delete), whichever allocator is used.
    [[gnu::noinline]] void* allocate(std::size_t n) {
        std::size_t c = class_of(n);
        if (c < classes && heads_[c]) {
            block* b = heads_[c];
            heads_[c] = b->next;
            --counts_[c];
            return b;
        }
        void* p = std::malloc(c < classes ? (c + 1) * granularity : n);
        if (p == nullptr) throw std::bad_alloc();
        return p;
    }

    void deallocate(void* p, std::size_t n) noexcept {
        std::size_t c = class_of(n);
        if (c < classes && counts_[c] < per_class) {
            auto* b = static_cast<block*>(p);
            b->next = heads_[c];
            heads_[c] = b;
            ++counts_[c];
            return;
        }
        std::free(p);
    }

    static frame_cache& local() {
        thread_local frame_cache cache;
        return cache;
    }

private:
    struct block {
        block* next;
    };
    static std::size_t class_of(std::size_t n) noexcept { return (n + granularity - 1) / granularity - 1; }

    block* heads_[classes] = {};
    unsigned counts_[classes] = {};
};

/// Mixed into promise types: routes frame allocation through the per-thread cache.
struct recycled_frame {
#if SLUICE_FRAME_RECYCLING
    static void* operator new(std::size_t n) { return frame_cache::local().allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_cache::local().deallocate(p, n); }
#endif
};

} // namespace sluice::detail
