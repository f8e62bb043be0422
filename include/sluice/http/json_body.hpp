#pragma once

// JSON request bodies for http::server handlers, parsed with simdjson in place (the request parser
// keeps simdjson's padding allocated after every body, so nothing is copied). The server itself
// never includes simdjson: only handlers that parse JSON include this header.
//
//     http::json_body_parser json;                       // one per loop: it reuses its memory
//     routes.post("/things", [&](http::server_request& r) -> task<http::server_response> {
//         auto body = json.parse(r);
//         if (!body) co_return body.refusal();            // 415 or 400 with the reason
//         simdjson::dom::element doc = body.value();      // valid until the next parse
//         ...
//     });

#if !SLUICE_HAS_SIMDJSON
#error "sluice/http/json_body.hpp needs simdjson (SLUICE_HAS_SIMDJSON): install libsimdjson-dev"
#endif

#include <simdjson.h>

#include <string>
#include <string_view>
#include <utility>

#include <sluice/http/header.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>

namespace sluice::http {

static_assert(simdjson::SIMDJSON_PADDING <= server_request::body_padding,
              "the request parser must keep at least simdjson's padding after bodies");

/// A parsed body or the refusal to send instead.
class json_body {
public:
    /// True when the body parsed.
    [[nodiscard]] explicit operator bool() const noexcept { return status_ == 0; }
    /// The document's root; valid until the parser that made it parses again.
    [[nodiscard]] simdjson::dom::element value() const noexcept { return root_; }
    /// 0 when parsed; else 415 (not JSON content) or 400 (malformed JSON).
    [[nodiscard]] int status() const noexcept { return status_; }
    /// Why it was refused ("" when parsed).
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    /// The response that says so: server_response::error(status(), reason()).
    [[nodiscard]] server_response refusal() const { return server_response::error(status_, reason_); }

private:
    friend class json_body_parser;
    simdjson::dom::element root_{};
    int status_ = 0;
    std::string reason_;
};

/// Parses request bodies as JSON; keep one per loop (not shared between threads).
class json_body_parser {
public:
    /// With `require_json_type`, a request whose Content-Type is present and is not JSON
    /// (application/json or any +json type) is refused with 415.
    explicit json_body_parser(bool require_json_type = true) : require_json_type_(require_json_type) {}

    /// Parses `r.body`. The element stays valid until the next parse with this parser.
    [[nodiscard]] json_body parse(const server_request& r) {
        json_body out;
        if (require_json_type_) {
            const auto type = r.header("content-type");
            if (type && !is_json_type(*type)) {
                out.status_ = 415;
                out.reason_ = "Content-Type must be application/json";
                return out;
            }
        }
        // In place: simdjson copies only when the string lacks its padding, which the request
        // parser leaves after every body.
        auto parsed = parser_.parse(r.body);
        if (parsed.error() != simdjson::SUCCESS) {
            out.status_ = 400;
            out.reason_ = std::string("body is not valid JSON: ") + simdjson::error_message(parsed.error());
            return out;
        }
        out.root_ = parsed.value_unsafe();
        return out;
    }

    /// "application/json", "application/json; charset=utf-8", "application/problem+json"...
    [[nodiscard]] static bool is_json_type(std::string_view type) noexcept {
        type = type.substr(0, type.find(';'));
        while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
        if (detail::iequals(type, "application/json")) return true;
        return type.size() > 5 && detail::iequals(type.substr(type.size() - 5), "+json") &&
               detail::iequals(type.substr(0, 12), "application/");
    }

private:
    simdjson::dom::parser parser_;
    bool require_json_type_;
};

} // namespace sluice::http
