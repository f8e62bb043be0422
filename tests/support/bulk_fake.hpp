#pragma once

// An in-process OpenSearch/Elasticsearch _bulk endpoint on sluice's own http::server, for the unit
// tests' fault injection (tests/node/bulk-fixture.js is the loopback fixture the official JavaScript
// clients are checked against). It follows the _bulk request and response shapes of
// elastic/elasticsearch-specification: NDJSON with every line ending in '\n', an action line
// ({"index"|"create": {"_index", "_id"?}}) then the document line, answered
// {"took","errors","items":[{"<action>":{"_index","_id","status","result"|"error"}}]}. It enforces the
// framing (a bad line is a whole-request 400, as Elasticsearch answers), stores documents by index
// and _id so a test can count every record, and fails on purpose: whole requests (a queue of
// statuses), items by the document's "id" field (429 a number of times, 400 always), bodies over a
// size (413), and credentials (401).

#include <sluice/codec/compression.hpp>
#include <sluice/http/server.hpp>

#include "decompress.hpp"

#include <simdjson.h>

#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_test {

struct bulk_fake {
    // ---- what it stores and saw ----
    std::map<std::string, std::map<std::string, std::string>> indices; ///< index -> _id -> document
    std::size_t requests = 0;
    std::size_t actions = 0;         ///< action lines received, retries included
    std::vector<std::size_t> request_actions; ///< actions per accepted request
    std::vector<std::string> authorizations;  ///< Authorization header of each request
    std::vector<std::string> bodies;          ///< decompressed bodies (when keep_bodies)
    std::size_t auto_ids = 0;

    // ---- faults ----
    std::deque<int> request_statuses;             ///< answers for the next requests (then 200)
    std::map<std::string, int> item_429_times;    ///< by document "id": answer 429 that many times
    std::set<std::string> item_400;               ///< by document "id": always 400 mapper_parsing_exception
    std::size_t max_body_bytes = 0;               ///< larger bodies get 413 (0: no limit)
    std::string expected_authorization;           ///< when set, anything else gets 401
    bool keep_bodies = false;

    /// Documents stored across all indices.
    [[nodiscard]] std::size_t stored() const {
        std::size_t n = 0;
        for (const auto& [index, docs] : indices) n += docs.size();
        return n;
    }

    sluice::task<sluice::http::server_response> handle(sluice::http::server_request& r) {
        using sluice::http::server_response;
        ++requests;
        if (r.method != "POST" || r.path != "/_bulk") co_return error(404, "not_found", "no such route");
        const auto auth = r.header("authorization");
        authorizations.emplace_back(auth.value_or(""));
        if (!expected_authorization.empty() && auth.value_or("") != expected_authorization)
            co_return error(401, "security_exception", "unable to authenticate user");
        if (!request_statuses.empty()) {
            const int status = request_statuses.front();
            request_statuses.pop_front();
            co_return error(status, status == 429 ? "circuit_breaking_exception" : "internal_error", "injected");
        }
        if (r.header("content-type").value_or("") != "application/x-ndjson")
            co_return error(400, "illegal_argument_exception", "Content-Type must be application/x-ndjson");
        std::string body = r.body;
        if (r.header("content-encoding").value_or("") == "gzip") body = decompress_object(sluice::compression::gzip, body);
        if (max_body_bytes != 0 && body.size() > max_body_bytes) co_return error(413, "", "");
        if (keep_bodies) bodies.push_back(body);
        std::string items;
        std::string why = apply(body, items);
        if (!why.empty()) co_return error(400, "illegal_argument_exception", why);
        co_return server_response::json(200, items);
    }

private:
    static sluice::http::server_response error(int status, std::string_view type, std::string_view reason) {
        if (type.empty()) return sluice::http::server_response::text(status, "request too large");
        std::string b = "{\"error\":{\"type\":\"" + std::string(type) + "\",\"reason\":\"" + std::string(reason) +
                        "\"},\"status\":" + std::to_string(status) + "}";
        return sluice::http::server_response::json(status, std::move(b));
    }

    // Checks the whole body first (Elasticsearch refuses a malformed body before applying any item).
    std::string apply(const std::string& body, std::string& out) {
        if (body.empty() || body.back() != '\n') return "The bulk request must be terminated by a newline [\\n]";
        std::vector<std::string_view> lines;
        for (std::size_t at = 0; at < body.size();) {
            const auto nl = body.find('\n', at);
            lines.emplace_back(body.data() + at, nl - at);
            at = nl + 1;
        }
        if (lines.size() % 2 != 0) return "an action line without its document";
        struct action {
            std::string kind, index, id, doc, doc_id;
        };
        std::vector<action> acts;
        for (std::size_t i = 0; i < lines.size(); i += 2) {
            simdjson::dom::object a, d, meta;
            if (parser_.parse(lines[i].data(), lines[i].size(), true).get_object().get(a) != simdjson::SUCCESS || a.size() != 1)
                return "Malformed action/metadata line";
            action x;
            x.kind = std::string((*a.begin()).key);
            if (x.kind != "index" && x.kind != "create") return "Malformed action/metadata line, unknown action";
            if ((*a.begin()).value.get_object().get(meta) != simdjson::SUCCESS) return "Malformed action/metadata line";
            std::string_view s;
            if (meta["_index"].get_string().get(s) != simdjson::SUCCESS) return "no _index";
            x.index = std::string(s);
            if (meta["_id"].get_string().get(s) == simdjson::SUCCESS) x.id = std::string(s);
            if (doc_parser_.parse(lines[i + 1].data(), lines[i + 1].size(), true).get_object().get(d) != simdjson::SUCCESS)
                return "the document is not a JSON object";
            if (d["id"].get_string().get(s) == simdjson::SUCCESS) x.doc_id = std::string(s);
            x.doc = std::string(lines[i + 1]);
            acts.push_back(std::move(x));
        }
        bool errors = false;
        out = "{\"took\":1,\"errors\":";
        std::string items = ",\"items\":[";
        for (std::size_t k = 0; k < acts.size(); ++k) {
            ++actions;
            if (k != 0) items += ',';
            items += item(acts[k], errors);
        }
        request_actions.push_back(acts.size());
        out += errors ? "true" : "false";
        out += items + "]}";
        return {};
    }

    template <class Action>
    std::string item(Action& x, bool& errors) {
        auto fail = [&](int status, std::string_view type, std::string_view reason) {
            errors = true;
            return "{\"" + x.kind + "\":{\"_index\":\"" + x.index + "\",\"_id\":\"" + x.id + "\",\"status\":" +
                   std::to_string(status) + ",\"error\":{\"type\":\"" + std::string(type) + "\",\"reason\":\"" +
                   std::string(reason) + "\"}}}";
        };
        if (auto it = item_429_times.find(x.doc_id); it != item_429_times.end() && it->second > 0) {
            --it->second;
            return fail(429, "es_rejected_execution_exception", "rejected execution of coordinating operation");
        }
        if (item_400.count(x.doc_id) != 0)
            return fail(400, "mapper_parsing_exception",
                        "failed to parse field [n] of type [long] in document with id 'x'. Preview of field's value: 'SECRET-VALUE'");
        if (x.id.empty()) x.id = "auto-" + std::to_string(++auto_ids);
        auto& docs = indices[x.index];
        const bool exists = docs.count(x.id) != 0;
        if (x.kind == "create" && exists)
            return fail(409, "version_conflict_engine_exception", "[" + x.id + "]: version conflict, document already exists");
        docs[x.id] = x.doc;
        return "{\"" + x.kind + "\":{\"_index\":\"" + x.index + "\",\"_id\":\"" + x.id + "\",\"_version\":1,\"result\":\"" +
               (exists ? "updated" : "created") + "\",\"status\":" + (exists ? "200" : "201") + "}}";
    }

    simdjson::dom::parser parser_;
    simdjson::dom::parser doc_parser_;
};

} // namespace sluice_test
