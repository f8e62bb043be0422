#pragma once

// What sluice's fuzz targets share. A target is a function of the input bytes that runs a parser and
// checks what must hold whatever the bytes (SLUICE_FUZZ_CHECK): under libFuzzer (fuzz/driver.cpp) a
// failed check aborts, so the fuzzer keeps the input; in the unit tests (tests/test_fuzz_regressions.cpp)
// it throws, so the seed corpora and the reproducers of fixed defects replay as ordinary tests.
//
//     SLUICE_FUZZ_TARGET(my_parser) {            // in fuzz/targets/my_parser.hpp
//         const auto f = sluice_fuzz::fields(data);
//         auto parsed = parse(f[0]);
//         SLUICE_FUZZ_CHECK(invariant(parsed), "what went wrong");
//     }

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

/// Thrown by a failed check outside libFuzzer.
struct check_failed : std::logic_error {
    using std::logic_error::logic_error;
};

[[noreturn]] inline void fail(const char* file, int line, const char* condition, const std::string& detail) {
    const std::string what = std::string(file) + ":" + std::to_string(line) + ": check failed: " + condition +
                             (detail.empty() ? std::string() : " (" + detail + ")");
#if SLUICE_FUZZ_ABORT
    std::fprintf(stderr, "%s\n", what.c_str());
    std::abort();
#else
    throw check_failed(what);
#endif
}

#define SLUICE_FUZZ_CHECK(condition, detail)                                                                 \
    do {                                                                                                     \
        if (!(condition)) ::sluice_fuzz::fail(__FILE__, __LINE__, #condition, detail);                      \
    } while (0)

using input = std::span<const std::uint8_t>;
using target_fn = void (*)(input);

struct target {
    const char* name;
    target_fn run;
};

/// Every target compiled in, in the order their headers were included.
inline std::vector<target>& registry() {
    static std::vector<target> targets;
    return targets;
}

struct registrar {
    registrar(const char* name, target_fn fn) { registry().push_back({name, fn}); }
};

/// Defines target `name` (the function sluice_fuzz::name_run) and registers it.
#define SLUICE_FUZZ_TARGET(name)                                                                             \
    void name##_run(::sluice_fuzz::input data);                                                              \
    inline const ::sluice_fuzz::registrar name##_registrar{#name, &name##_run};                              \
    inline void name##_run([[maybe_unused]] ::sluice_fuzz::input data)

/// The input as text.
[[nodiscard]] inline std::string_view as_text(input data) noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

/// The field separator of text inputs: ASCII RS (0x1E), which no seed needs inside a field.
inline constexpr char separator = '\x1e';

/// The input cut at every separator, padded with empty fields to at least `n`.
[[nodiscard]] inline std::vector<std::string_view> fields(input data, std::size_t n = 0) {
    std::vector<std::string_view> out;
    std::string_view text = as_text(data);
    for (;;) {
        const std::size_t at = text.find(separator);
        out.push_back(text.substr(0, at));
        if (at == std::string_view::npos) break;
        text.remove_prefix(at + 1);
    }
    while (out.size() < n) out.emplace_back();
    return out;
}

/// Reads a binary input front to back; past the end everything reads as zero/empty.
class reader {
public:
    explicit reader(input data) noexcept : data_(data) {}

    [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }
    std::uint8_t u8() noexcept { return pos_ < data_.size() ? data_[pos_++] : 0; }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(u8() | u8() << 8); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(u16() | std::uint32_t{u16()} << 16); }
    std::uint64_t u64() noexcept { return u32() | std::uint64_t{u32()} << 32; }
    /// The next `n` bytes (fewer at the end).
    std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
        n = std::min(n, remaining());
        auto out = data_.subspan(pos_, n);
        pos_ += n;
        return out;
    }
    /// A u16-length-prefixed run of bytes.
    std::span<const std::uint8_t> chunk() noexcept { return bytes(u16()); }
    std::span<const std::uint8_t> rest() noexcept { return bytes(remaining()); }

private:
    input data_;
    std::size_t pos_ = 0;
};

/// True when `s` holds a C0 control character or DEL (what could forge a log line).
[[nodiscard]] inline bool has_control(std::string_view s) noexcept {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}

/// Printable for a check's message: control bytes as \xNN, at most 200 characters.
[[nodiscard]] inline std::string show(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace sluice_fuzz
