#pragma once

// A growable FIFO ring: one contiguous power-of-two buffer, so pushing and popping never allocate once
// it has grown to the working size (std::deque allocates a 512-byte block every few large elements).

#include <cstddef>
#include <memory>
#include <utility>

namespace sluice::detail {

template <class T>
class ring_buffer {
public:
    ring_buffer() = default;
    ring_buffer(const ring_buffer&) = delete;
    ring_buffer& operator=(const ring_buffer&) = delete;
    ~ring_buffer() { release(); }

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    void push_back(T&& value) {
        if (size_ == capacity_) grow();
        std::construct_at(data_ + ((head_ + size_) & (capacity_ - 1)), std::move(value));
        ++size_;
    }

    T& front() noexcept { return data_[head_]; }

    void pop_front() noexcept {
        std::destroy_at(data_ + head_);
        head_ = (head_ + 1) & (capacity_ - 1);
        if (--size_ == 0) {
            head_ = 0;
            // Give back what a burst grew to, keep a working size.
            if (capacity_ > shrink_above) release();
        }
    }

private:
    static constexpr std::size_t shrink_above = 1u << 16;

    void grow() {
        std::size_t capacity = capacity_ == 0 ? 16 : capacity_ * 2;
        T* data = std::allocator<T>{}.allocate(capacity);
        for (std::size_t i = 0; i < size_; ++i) {
            T* from = data_ + ((head_ + i) & (capacity_ - 1));
            std::construct_at(data + i, std::move(*from));
            std::destroy_at(from);
        }
        if (data_) std::allocator<T>{}.deallocate(data_, capacity_);
        data_ = data;
        capacity_ = capacity;
        head_ = 0;
    }

    void release() noexcept {
        while (size_ != 0) {
            std::destroy_at(data_ + head_);
            head_ = (head_ + 1) & (capacity_ - 1);
            --size_;
        }
        if (data_) std::allocator<T>{}.deallocate(data_, capacity_);
        data_ = nullptr;
        capacity_ = 0;
        head_ = 0;
    }

    T* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace sluice::detail
