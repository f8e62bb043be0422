#pragma once

// router: dispatches requests to handlers by method and path. Patterns are paths whose segments are
// literals or parameters ("{name}", one whole segment):
//
//     http::router routes;
//     routes.get("/minifirehoses", list);
//     routes.post("/minifirehoses/{name}/message", add_message);   // r.param("name")
//     http::server server(loop, routes.handler());                 // routes outlives server
//
// Request paths are split on '/' and each segment is percent-decoded before it is compared, so
// "/a%2Fb" is one segment "a/b". A literal segment wins over a parameter at the same place; the first
// pattern that matches the whole path decides. Answers of its own: 404 when no pattern matches, 405
// with Allow when one does but not for this method, 501 for a method no route uses, 400 for a
// malformed escape. HEAD runs the GET handler (the server drops the body); OPTIONS answers 204 with
// Allow unless a route handles it.

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>

namespace sluice::http {

/// Method-and-path dispatch; see the file comment.
class router {
public:
    /// A request handler: the coroutine that answers one request.
    using handler = request_handler;
    /// Builds the router's own refusals (404, 405, 501, 400); server_response::error by default.
    using error_fn = std::function<server_response(int status, std::string_view reason)>;

    /// A router without routes; `on_error` builds its 404, 405, 501 and 400 answers.
    explicit router(error_fn on_error = &server_response::error) : on_error_(std::move(on_error)) {}
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    /// Adds a route. Throws std::invalid_argument for a pattern that does not start with '/', a
    /// malformed or repeated parameter, a method that is not a token, or a (method, pattern) pair that
    /// is already routed.
    router& add(std::string_view method, std::string_view pattern, handler h) {
        if (method.empty() || method.find_first_of(" \t\r\n/") != std::string_view::npos)
            throw std::invalid_argument("router: invalid method '" + std::string(method) + "'");
        if (pattern.empty() || pattern.front() != '/')
            throw std::invalid_argument("router: pattern '" + std::string(pattern) + "' must start with '/'");
        node* at = &root_;
        std::vector<std::string> names;
        for_each_segment(pattern, [&](std::string_view segment) {
            if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
                std::string name(segment.substr(1, segment.size() - 2));
                if (name.empty() || name.find_first_of("{}") != std::string::npos ||
                    std::find(names.begin(), names.end(), name) != names.end())
                    throw std::invalid_argument("router: bad parameter '" + std::string(segment) + "' in '" + std::string(pattern) + "'");
                names.push_back(std::move(name));
                if (!at->param) at->param = std::make_unique<node>();
                at = at->param.get();
                return;
            }
            if (segment.find_first_of("{}") != std::string_view::npos)
                throw std::invalid_argument("router: a parameter must be a whole segment in '" + std::string(pattern) + "'");
            at = &at->literal(segment);
        });
        for (const route& r : at->routes)
            if (r.method == method)
                throw std::invalid_argument("router: " + std::string(method) + " " + std::string(pattern) + " is routed twice");
        at->routes.push_back(route{std::string(method), std::move(names), std::move(h)});
        if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) methods_.emplace_back(method);
        return *this;
    }

    /// add() for one method.
    router& get(std::string_view pattern, handler h) { return add("GET", pattern, std::move(h)); }
    /// Adds a POST route.
    router& post(std::string_view pattern, handler h) { return add("POST", pattern, std::move(h)); }
    /// Adds a PUT route.
    router& put(std::string_view pattern, handler h) { return add("PUT", pattern, std::move(h)); }
    /// Adds a PATCH route.
    router& patch(std::string_view pattern, handler h) { return add("PATCH", pattern, std::move(h)); }
    /// Adds a DELETE route (`delete` is a keyword).
    router& del(std::string_view pattern, handler h) { return add("DELETE", pattern, std::move(h)); }

    /// Answers `r`: its route's handler (with r.params filled), or the router's own refusal.
    [[nodiscard]] task<server_response> dispatch(server_request& r) const {
        if (!uses_method(r.method)) return ready(on_error_(501, "method not implemented"));
        std::vector<std::string> values;
        const node* found = nullptr;
        const match_status status = find(r.path, values, found);
        if (status == match_status::bad_path) return ready(on_error_(400, "malformed percent-encoding in the path"));
        if (status == match_status::none) return ready(on_error_(404, "no such resource"));
        const route* chosen = found->find(r.method);
        if (chosen == nullptr && r.method == "HEAD") chosen = found->find("GET");
        if (chosen == nullptr) {
            server_response refusal = r.method == "OPTIONS" ? server_response{} : on_error_(405, "method not allowed");
            if (r.method == "OPTIONS") refusal.status = 204;
            refusal.headers.push_back({"Allow", found->allow()});
            return ready(std::move(refusal));
        }
        r.params.clear();
        for (std::size_t i = 0; i < chosen->param_names.size(); ++i) r.params.emplace_back(chosen->param_names[i], std::move(values[i]));
        return chosen->h(r);
    }

    /// The router as a server handler. The router must outlive whatever holds it.
    [[nodiscard]] handler as_handler() const {
        return [this](server_request& r) { return dispatch(r); };
    }

private:
    struct route {
        std::string method;
        std::vector<std::string> param_names;
        handler h;
    };

    struct node {
        std::vector<std::pair<std::string, std::unique_ptr<node>>> literals;
        std::unique_ptr<node> param;
        std::vector<route> routes;

        node& literal(std::string_view segment) {
            for (auto& [text, child] : literals)
                if (text == segment) return *child;
            literals.emplace_back(std::string(segment), std::make_unique<node>());
            return *literals.back().second;
        }
        [[nodiscard]] const node* literal(std::string_view segment) const {
            for (const auto& [text, child] : literals)
                if (text == segment) return child.get();
            return nullptr;
        }
        [[nodiscard]] const route* find(std::string_view method) const {
            for (const route& r : routes)
                if (r.method == method) return &r;
            return nullptr;
        }
        /// The Allow header: the routed methods, HEAD where GET is, and OPTIONS.
        [[nodiscard]] std::string allow() const {
            std::vector<std::string_view> list;
            for (const route& r : routes) list.push_back(r.method);
            if (find("GET") && !find("HEAD")) list.push_back("HEAD");
            if (!find("OPTIONS")) list.push_back("OPTIONS");
            std::string out;
            for (std::string_view m : list) {
                if (!out.empty()) out += ", ";
                out += m;
            }
            return out;
        }
    };

    enum class match_status { found, none, bad_path };

    static task<server_response> ready(server_response r) { co_return r; }

    [[nodiscard]] bool uses_method(std::string_view method) const noexcept {
        if (method == "OPTIONS" || std::find(methods_.begin(), methods_.end(), method) != methods_.end()) return true;
        return method == "HEAD" && std::find(methods_.begin(), methods_.end(), "GET") != methods_.end();
    }

    /// Calls `f` with each segment of a path ("/" has one empty segment).
    template <class F>
    static void for_each_segment(std::string_view path, F&& f) {
        path.remove_prefix(1);
        for (;;) {
            const std::size_t slash = path.find('/');
            f(path.substr(0, slash));
            if (slash == std::string_view::npos) return;
            path.remove_prefix(slash + 1);
        }
    }

    match_status find(std::string_view path, std::vector<std::string>& values, const node*& found) const {
        if (path.empty() || path.front() != '/') return match_status::none; // "*", CONNECT's authority
        std::vector<std::string> segments;
        bool malformed = false;
        for_each_segment(path, [&](std::string_view s) {
            auto decoded = percent_decode(s);
            if (!decoded) malformed = true;
            segments.push_back(decoded ? std::move(*decoded) : std::string());
        });
        if (malformed) return match_status::bad_path;
        found = walk(root_, segments, 0, values);
        return found ? match_status::found : match_status::none;
    }

    /// Depth-first: literal before parameter, backing out of branches that end without routes.
    static const node* walk(const node& at, std::vector<std::string>& segments, std::size_t i, std::vector<std::string>& values) {
        if (i == segments.size()) return at.routes.empty() ? nullptr : &at;
        if (const node* next = at.literal(segments[i]))
            if (const node* hit = walk(*next, segments, i + 1, values)) return hit;
        if (at.param && !segments[i].empty()) {
            values.push_back(segments[i]);
            if (const node* hit = walk(*at.param, segments, i + 1, values)) return hit;
            values.pop_back();
        }
        return nullptr;
    }

    node root_;
    std::vector<std::string> methods_;
    error_fn on_error_;
};

} // namespace sluice::http
