#pragma once

// The dictionary of one column chunk (apache/parquet-format Encodings.md, "Dictionary Encoding"): its
// entries in PLAIN encoding, back to back (which is the dictionary page's body as it stands), and an
// open-addressing hash index over them, so adding a value costs one hash and usually one compare, and
// entries cost no allocation of their own.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::formats::parquet {

namespace detail {

/// A fast 64-bit hash of a short byte string (not for adversarial keys' sake: collisions only cost
/// compares, the index never trusts a hash alone).
[[nodiscard]] inline std::uint64_t hash_bytes(std::string_view s) noexcept {
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    const auto mix = [&](std::uint64_t k) {
        h = (h ^ k) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    };
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t k;
        std::memcpy(&k, s.data() + i, 8);
        mix(k);
    }
    if (i < s.size()) {
        std::uint64_t k = 0;
        std::memcpy(&k, s.data() + i, s.size() - i);
        mix(k);
    }
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

} // namespace detail

/// Distinct PLAIN-encoded values, numbered in order of first appearance.
class dictionary {
public:
    /// The index of `plain` (the PLAIN encoding of one value), adding it when new.
    std::uint32_t insert(std::string_view plain) {
        if ((offsets_.size() + 1) * 2 > slots_.size()) grow();
        const std::uint64_t h = detail::hash_bytes(plain);
        for (std::size_t slot = h & mask_;; slot = (slot + 1) & mask_) {
            const std::uint32_t s = slots_[slot];
            if (s == 0) {
                const auto index = static_cast<std::uint32_t>(offsets_.size());
                offsets_.push_back(plain_.size());
                hashes_.push_back(h);
                plain_.append(plain);
                slots_[slot] = index + 1;
                return index;
            }
            if (hashes_[s - 1] == h && entry(s - 1) == plain) return s - 1;
        }
    }

    /// Distinct values so far (the next index handed out).
    [[nodiscard]] std::size_t size() const noexcept { return offsets_.size(); }
    /// Bytes of the entries in PLAIN encoding (the dictionary page's uncompressed body).
    [[nodiscard]] std::size_t bytes() const noexcept { return plain_.size(); }
    /// The entries in PLAIN encoding, in index order.
    [[nodiscard]] std::string_view plain() const noexcept { return plain_; }
    /// Bytes of memory held (what the writer's memory budget counts).
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
        return plain_.capacity() + offsets_.capacity() * sizeof(std::size_t) + hashes_.capacity() * 8 + slots_.capacity() * 4;
    }

    /// Forgets every entry (a new column chunk starts a new dictionary).
    void clear() {
        plain_.clear();
        offsets_.clear();
        hashes_.clear();
        std::fill(slots_.begin(), slots_.end(), 0u);
    }

private:
    [[nodiscard]] std::string_view entry(std::size_t i) const noexcept {
        const std::size_t end = i + 1 < offsets_.size() ? offsets_[i + 1] : plain_.size();
        return std::string_view(plain_).substr(offsets_[i], end - offsets_[i]);
    }

    void grow() {
        const std::size_t n = slots_.empty() ? 1024 : slots_.size() * 2;
        slots_.assign(n, 0u);
        mask_ = n - 1;
        for (std::size_t i = 0; i < hashes_.size(); ++i) {
            std::size_t slot = hashes_[i] & mask_;
            while (slots_[slot] != 0) slot = (slot + 1) & mask_;
            slots_[slot] = static_cast<std::uint32_t>(i + 1);
        }
    }

    std::string plain_;
    std::vector<std::size_t> offsets_;
    std::vector<std::uint64_t> hashes_;
    std::vector<std::uint32_t> slots_; ///< 0: empty; else entry index + 1
    std::size_t mask_ = 0;
};

} // namespace sluice::formats::parquet
