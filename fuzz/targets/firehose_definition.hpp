#pragma once

// sluiced's firehose definitions (tools/sluiced/firehose_definition.hpp): the body of
// POST /minifirehoses, untrusted JSON turned into TOML nodes and read by the configuration's reader.
// What must hold: it never throws or crashes; a definition comes back exactly when there is no error;
// every error has a message; and a definition's persisted JSON (what the next start reads) reads back
// to the same definition.
//
// Input: the request body, as is.

#include "../fuzz.hpp"

#include "../../tools/sluiced/firehose_definition.hpp"

#include <string>
#include <string_view>

namespace sluice_fuzz {

SLUICE_FUZZ_TARGET(firehose_definition) {
    const std::string_view body = as_text(data);
    const auto first = sluiced::parse_firehose(body);
    SLUICE_FUZZ_CHECK(first.definition.has_value() == first.errors.empty(), "a definition and errors, or neither");
    for (const auto& e : first.errors) SLUICE_FUZZ_CHECK(!e.empty(), "an error without a message");
    if (!first.definition) return;
    const auto again = sluiced::parse_firehose(first.definition->json);
    SLUICE_FUZZ_CHECK(again.definition.has_value(), "the persisted definition does not read back");
    SLUICE_FUZZ_CHECK(again.definition->name == first.definition->name, "the persisted definition has another name");
    SLUICE_FUZZ_CHECK(again.definition->sinks == first.definition->sinks, "the persisted definition has other sinks");
    SLUICE_FUZZ_CHECK(again.definition->json == first.definition->json, "persisting twice changed the JSON");
}

} // namespace sluice_fuzz
