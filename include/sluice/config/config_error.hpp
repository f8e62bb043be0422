#pragma once

// One problem found in a configuration file, with where it is.

#include <cstdint>
#include <string>

namespace sluice::config {

/// A configuration error at `file:line:column` (1-based; the start of the value, key or table concerned).
struct config_error {
    std::string file{};       ///< the file as it was named (or the name given to a string)
    std::uint32_t line = 0;   ///< 1-based line
    std::uint32_t column = 0; ///< 1-based column
    /// What is wrong and what was expected. Never holds a value taken from the environment.
    std::string message{};

    /// "file:line:column: message", the form compilers use (editors jump to it).
    [[nodiscard]] std::string to_string() const {
        return file + ':' + std::to_string(line) + ':' + std::to_string(column) + ": " + message;
    }
};

} // namespace sluice::config
