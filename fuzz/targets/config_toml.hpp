#pragma once

// The sluiced configuration reader (config/toml_config.hpp): arbitrary TOML text, with one environment
// variable for ${NAME} interpolation. What must hold: it never throws or crashes; a file is valid
// exactly when it has no errors; every error has a 1-based line and column within the text and a
// message; reading twice gives the same errors; and the value of the environment variable (a secret)
// appears in no error and not in the summary of a valid file, unless the text itself holds it.
//
// Input (fields separated by 0x1E): the TOML text, the value of ${SECRET} after a fixed prefix (so that
// a secret is never just a piece of the reader's own messages, "expected '='" and the like).

#include "../fuzz.hpp"

#include <sluice/config/summary.hpp>
#include <sluice/config/toml_config.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>

namespace sluice_fuzz {

SLUICE_FUZZ_TARGET(config_toml) {
    const auto f = fields(data, 2);
    const std::string text(f[0]);
    const std::string secret = "s3cr3t:" + std::string(f[1]);
    const auto env = sluice::aws::fixed_environment({{"SECRET", secret}});
    const auto first = sluice::config::parse_config(text, "fuzz.toml", env);
    SLUICE_FUZZ_CHECK(first.ok() == first.config.has_value(), "a config without errors and without a model");
    const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') + 1);
    const bool check_secret = text.find(secret) == std::string::npos;
    for (const auto& e : first.errors) {
        SLUICE_FUZZ_CHECK(e.line >= 1 && e.column >= 1 && e.line <= lines + 1, "an error outside the text: " + e.to_string());
        SLUICE_FUZZ_CHECK(!e.message.empty(), "an error without a message");
        if (check_secret)
            SLUICE_FUZZ_CHECK(e.message.find(secret) == std::string::npos, "an error quotes the secret");
    }
    const auto again = sluice::config::parse_config(text, "fuzz.toml", env);
    SLUICE_FUZZ_CHECK(again.errors.size() == first.errors.size(), "reading twice gave different errors");
    for (std::size_t i = 0; i < first.errors.size(); ++i)
        SLUICE_FUZZ_CHECK(again.errors[i].to_string() == first.errors[i].to_string(), "reading twice gave different errors");
    if (first.config && check_secret)
        SLUICE_FUZZ_CHECK(sluice::config::describe(*first.config).find(secret) == std::string::npos,
                          "the summary quotes the secret");
}

} // namespace sluice_fuzz
