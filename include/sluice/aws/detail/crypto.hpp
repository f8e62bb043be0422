#pragma once

// SHA-256 and HMAC-SHA256 for the SigV4 signer, on OpenSSL 3 contexts that are fetched once and reused:
// on OpenSSL 3 a fetch (EVP_MD_fetch, EVP_MAC_fetch, or the implicit one of the one-shot HMAC()) costs
// more than hashing a small input, so the hot path only re-initialises contexts it already owns.
// Plus MD5 (for checks services ask for) and lower-case hex. Errors throw std::runtime_error naming the operation, never its data or key.

#if !SLUICE_HAS_OPENSSL
#error "sluice/aws needs OpenSSL 3 (CMake: SLUICE_WITH_OPENSSL, meson: -Dopenssl=enabled; it defines SLUICE_HAS_OPENSSL=1)"
#endif

#include <array>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "sluice/aws needs OpenSSL 3.0 or newer (EVP_MAC, EVP_MD_fetch)"
#endif

namespace sluice::detail {

inline constexpr std::size_t sha256_size = 32;
using sha256_digest = std::array<unsigned char, sha256_size>;

/// Writes the lower-case hex of `size` bytes to `out`, which has room for 2 * size chars.
inline void hex_encode_lower(const unsigned char* data, std::size_t size, char* out) noexcept {
    constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
}

inline void append_hex_lower(std::string& out, const sha256_digest& digest) {
    const std::size_t at = out.size();
    out.resize(at + 2 * digest.size());
    hex_encode_lower(digest.data(), digest.size(), out.data() + at);
}

/// Overwrites `bytes` in a way the optimiser keeps (for key material).
inline void openssl_cleanse(void* bytes, std::size_t size) noexcept {
    if (size != 0) OPENSSL_cleanse(bytes, size);
}

inline void openssl_cleanse(std::string& s) noexcept { openssl_cleanse(s.data(), s.size()); }

[[noreturn]] inline void throw_openssl_error(const char* operation) {
    // The OpenSSL error queue is dropped, not quoted: it is thread-local state that must not leak into
    // the next, unrelated failure, and the operation's name is what a caller can act on.
    ERR_clear_error();
    throw std::runtime_error(std::string("sluice: OpenSSL ") + operation + " failed");
}

struct evp_md_deleter {
    void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};
struct evp_md_ctx_deleter {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct evp_mac_deleter {
    void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
};
struct evp_mac_ctx_deleter {
    void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

/// SHA-256 on a digest context that is reused for every hash (one fetch per object). Not thread-safe.
class sha256_hasher {
public:
    sha256_hasher() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {
        if (!md_ || !ctx_) throw_openssl_error("SHA-256 setup");
    }

    void init() {
        if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1) throw_openssl_error("SHA-256 init");
    }
    void update(std::string_view data) {
        if (!data.empty() && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
            throw_openssl_error("SHA-256 update");
    }
    sha256_digest final() {
        sha256_digest out;
        unsigned int size = 0;
        if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &size) != 1 || size != out.size())
            throw_openssl_error("SHA-256 final");
        return out;
    }

    sha256_digest digest(std::string_view data) {
        init();
        update(data);
        return final();
    }

private:
    std::unique_ptr<EVP_MD, evp_md_deleter> md_;
    std::unique_ptr<EVP_MD_CTX, evp_md_ctx_deleter> ctx_;
};

/// HMAC-SHA256 on one EVP_MAC_CTX. The default constructor fetches HMAC and SHA-256 once; copies are
/// EVP_MAC_CTX_dup (no fetch) and carry the key. restart() begins a new message with the key already
/// set, which skips the key schedule (the two padded-key blocks) that set_key() pays. Not thread-safe.
class hmac_sha256 {
public:
    hmac_sha256() {
        const std::unique_ptr<EVP_MAC, evp_mac_deleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
        if (!mac) throw_openssl_error("HMAC fetch");
        ctx_.reset(EVP_MAC_CTX_new(mac.get())); // the context holds its own reference to `mac`
        if (!ctx_) throw_openssl_error("HMAC context");
        char digest_name[] = "SHA256";
        const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                                     OSSL_PARAM_construct_end()};
        if (EVP_MAC_CTX_set_params(ctx_.get(), params) != 1) throw_openssl_error("HMAC digest selection");
    }

    hmac_sha256(const hmac_sha256& other) : ctx_(EVP_MAC_CTX_dup(other.ctx_.get())) {
        if (!ctx_) throw_openssl_error("HMAC context copy");
    }
    hmac_sha256& operator=(const hmac_sha256& other) {
        if (this != &other) *this = hmac_sha256(other);
        return *this;
    }
    hmac_sha256(hmac_sha256&&) noexcept = default;
    hmac_sha256& operator=(hmac_sha256&&) noexcept = default;
    ~hmac_sha256() = default; // EVP_MAC_CTX_free cleanses the key

    /// Sets the key and begins a message.
    void set_key(const void* key, std::size_t size) {
        // A zero-length key must still be a non-null pointer, or OpenSSL keeps the previous key.
        static const unsigned char empty_key = 0;
        const auto* bytes = size == 0 ? &empty_key : static_cast<const unsigned char*>(key);
        if (EVP_MAC_init(ctx_.get(), bytes, size, nullptr) != 1) throw_openssl_error("HMAC key setup");
    }
    void set_key(const sha256_digest& key) { set_key(key.data(), key.size()); }

    /// Begins a new message with the current key.
    void restart() {
        if (EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) != 1) throw_openssl_error("HMAC init");
    }
    void update(std::string_view data) {
        if (!data.empty() &&
            EVP_MAC_update(ctx_.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
            throw_openssl_error("HMAC update");
    }
    sha256_digest final() {
        sha256_digest out;
        std::size_t size = 0;
        if (EVP_MAC_final(ctx_.get(), out.data(), &size, out.size()) != 1 || size != out.size())
            throw_openssl_error("HMAC final");
        return out;
    }

    /// HMAC of `data` with the current key.
    sha256_digest mac(std::string_view data) {
        restart();
        update(data);
        return final();
    }
    /// Sets `key`, then HMAC of `data`.
    sha256_digest mac(const void* key, std::size_t key_size, std::string_view data) {
        set_key(key, key_size);
        update(data);
        return final();
    }

private:
    std::unique_ptr<EVP_MAC_CTX, evp_mac_ctx_deleter> ctx_;
};

/// MD5 on a reused OpenSSL context, fetched on first use (SQS returns MD5s of what it received).
/// Unavailable (FIPS providers) means no check: hex_digest() returns false.
class md5_hasher {
public:
    md5_hasher() = default;
    md5_hasher(const md5_hasher&) = delete;
    md5_hasher& operator=(const md5_hasher&) = delete;
    md5_hasher(md5_hasher&& o) noexcept
        : md_(std::exchange(o.md_, nullptr)), ctx_(std::exchange(o.ctx_, nullptr)), tried_(o.tried_) {}
    md5_hasher& operator=(md5_hasher&& o) noexcept {
        std::swap(md_, o.md_);
        std::swap(ctx_, o.ctx_);
        std::swap(tried_, o.tried_);
        return *this;
    }
    ~md5_hasher() {
        EVP_MD_CTX_free(ctx_);
        EVP_MD_free(md_);
    }

    /// Lower-case hex MD5 of `data` into out[32]; false when MD5 is unavailable.
    bool hex_digest(std::string_view data, char* out) noexcept {
        if (!ready()) return false;
        unsigned char digest[16];
        unsigned int size = 0;
        if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 || EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
            EVP_DigestFinal_ex(ctx_, digest, &size) != 1 || size != 16)
            return false;
        constexpr char hex[] = "0123456789abcdef";
        for (int k = 0; k < 16; ++k) {
            out[2 * k] = hex[digest[k] >> 4];
            out[2 * k + 1] = hex[digest[k] & 0x0F];
        }
        return true;
    }

private:
    bool ready() noexcept {
        if (md_ && ctx_) return true;
        if (tried_) return false;
        tried_ = true;
        md_ = EVP_MD_fetch(nullptr, "MD5", nullptr);
        ctx_ = EVP_MD_CTX_new();
        return md_ && ctx_;
    }

    EVP_MD* md_ = nullptr;
    EVP_MD_CTX* ctx_ = nullptr;
    bool tried_ = false;
};

} // namespace sluice::detail
