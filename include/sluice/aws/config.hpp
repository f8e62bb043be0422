#pragma once

// Where AWS settings come from, resolved as the AWS SDKs and CLI resolve them: the environment, the
// shared files (~/.aws/config and ~/.aws/credentials) and the selected profile.
//
//   auto config = sluice::aws::aws_config::load(); // env + files, profile from AWS_PROFILE
//   if (!config) ... config.get_error().what() ...  // a malformed file, with its path and line
//   auto region = config.value().region();    // explicit > AWS_REGION > AWS_DEFAULT_REGION > profile
//   auto url = config.value().endpoint("sqs", region.value());
//       // explicit > AWS_ENDPOINT_URL_SQS > AWS_ENDPOINT_URL > [services] > endpoint_url
//       // > https://sqs.<region>.amazonaws.com
//
// The environment is read through an env_lookup (the process environment by default), so tests and
// embedders can supply their own without touching the process's.
//
// The shared-file format (the cross-SDK profile file rules; the CLI agrees on everything used here):
//   - `[default]` and `[profile NAME]` sections in config, `[NAME]` in credentials; `[profile NAME]` in
//     credentials and `[NAME]` (other than default) in config are ignored, as the SDKs ignore them;
//     `[profile default]` in config replaces `[default]`. Sections of the same name are merged.
//   - `key = value`; property names are matched ignoring case (the CLI lower-cases them), profile names
//     are case-sensitive. A line that starts with whitespace continues the property above; an empty
//     value followed by indented `key = value` lines is a sub-section (`s3 =\n  addressing_style = path`).
//   - Lines starting with `#` or `;` are comments; on a property line `#`/`;` starts a comment only
//     after whitespace (`a = b#c` keeps `b#c`), on a section line anywhere.
//   - When both files define a profile, the credentials file's properties win.
//   - `[services NAME]` sections (config only) hold per-service sub-sections; a profile selects one with
//     `services = NAME`.
//
// Errors name the file and line, never the line's text (it may hold a secret).

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/result.hpp>
#include <sluice/text/ascii.hpp>

namespace sluice::aws {

/// Looks up an environment variable: its value, or nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (getenv).
[[nodiscard]] inline env_lookup process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const std::string key(name);
        if (const char* value = std::getenv(key.c_str())) return std::string(value);
        return std::nullopt;
    };
}

/// A fixed set of variables (everything else unset): for tests and for programs that configure sluice
/// without touching their own environment.
[[nodiscard]] inline env_lookup fixed_environment(std::map<std::string, std::string, std::less<>> variables) {
    return [vars = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

} // namespace sluice::aws

namespace sluice::detail::aws_cfg {

inline constexpr std::string_view whitespace = " \t";

/// "true"/"false" in any case (surrounding whitespace ignored); nullopt for anything else.
[[nodiscard]] inline std::optional<bool> parse_bool(std::string_view text) noexcept {
    text = sluice::text::trim(text);
    if (sluice::text::iequals(text, "true")) return true;
    if (sluice::text::iequals(text, "false")) return false;
    return std::nullopt;
}

/// Cuts a trailing comment. With `need_whitespace`, `#`/`;` only starts one after a space or tab.
[[nodiscard]] inline std::string_view strip_comment(std::string_view line, bool need_whitespace) noexcept {
    bool prev_space = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if ((c == '#' || c == ';') && (prev_space || !need_whitespace)) return line.substr(0, i);
        prev_space = c == ' ' || c == '\t';
    }
    return line;
}

/// Reads a whole file. nullopt (errno kept in `err`) when it cannot be opened; ENOENT is the common case.
[[nodiscard]] inline std::optional<std::string> read_file(const std::string& path, int& err) {
    err = 0;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        err = errno;
        return std::nullopt;
    }
    std::string out;
    char buf[4096];
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        out.append(buf, n);
        if (n < sizeof buf) break;
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        err = EIO;
        return std::nullopt;
    }
    return out;
}

} // namespace sluice::detail::aws_cfg

namespace sluice::aws {

/// The properties of one profile or service sub-section: lower-cased names to values.
using property_map = std::map<std::string, std::string, std::less<>>;

/// The parsed shared files: profiles from both files and the config file's [services] sections.
class shared_files {
public:
    /// Which of the two files a text is: profile sections are `[profile x]` in one, `[x]` in the other.
    enum class kind { config, credentials };

    shared_files() = default;

    /// Parses the two files' text. `config_path`/`credentials_path` only name them in errors. Fails on
    /// a structural error (a property outside any section, a section line without `]`, a line without
    /// `=`); unknown sections and keys are ignored.
    [[nodiscard]] static result<shared_files> parse(std::string_view config_text, std::string_view credentials_text,
                                                    std::string_view config_path = "config",
                                                    std::string_view credentials_path = "credentials") {
        shared_files files;
        if (auto e = files.parse_into(config_text, kind::config, config_path)) return result<shared_files>::failure(*e);
        if (auto e = files.parse_into(credentials_text, kind::credentials, credentials_path))
            return result<shared_files>::failure(*e);
        return result<shared_files>::ok(std::move(files));
    }

    /// Reads and parses the files at these paths; a missing file counts as empty, an unreadable one fails.
    [[nodiscard]] static result<shared_files> read(const std::string& config_path,
                                                   const std::string& credentials_path) {
        std::string texts[2];
        const std::string* paths[2] = {&config_path, &credentials_path};
        for (int i = 0; i < 2; ++i) {
            if (paths[i]->empty()) continue;
            int err = 0;
            auto text = detail::aws_cfg::read_file(*paths[i], err);
            if (text) {
                texts[i] = std::move(*text);
            } else if (err != ENOENT && err != ENOTDIR) {
                error e;
                e.source = "aws config";
                e.code = std::error_code(err, std::system_category());
                e.message = "cannot read " + *paths[i] + ": " + e.code.message();
                return result<shared_files>::failure(std::move(e));
            }
        }
        return parse(texts[0], texts[1], config_path, credentials_path);
    }

    /// True when either file defines the profile.
    [[nodiscard]] bool has_profile(std::string_view name) const {
        return config_.profiles.count(name) != 0 || credentials_.profiles.count(name) != 0;
    }

    /// A profile's property (name matched ignoring case): the credentials file's value, else the config file's.
    [[nodiscard]] std::optional<std::string> get(std::string_view profile, std::string_view key) const {
        if (auto v = get(kind::credentials, profile, key)) return v;
        return get(kind::config, profile, key);
    }

    /// A profile's property from one of the files.
    [[nodiscard]] std::optional<std::string> get(kind which, std::string_view profile, std::string_view key) const {
        const auto& profiles = which == kind::config ? config_.profiles : credentials_.profiles;
        auto p = profiles.find(profile);
        if (p == profiles.end()) return std::nullopt;
        auto v = p->second.find(sluice::text::to_lower(key));
        if (v == p->second.end()) return std::nullopt;
        return v->second;
    }

    /// A profile's properties as one map (the credentials file's win); empty when it is not defined.
    [[nodiscard]] property_map profile(std::string_view name) const {
        property_map out;
        if (auto p = config_.profiles.find(name); p != config_.profiles.end()) out = p->second;
        if (auto p = credentials_.profiles.find(name); p != credentials_.profiles.end())
            for (const auto& [k, v] : p->second) out[k] = v;
        return out;
    }

    /// `key` of service `service` (its config-file key, e.g. "sqs") in `[services section]`.
    [[nodiscard]] std::optional<std::string> service_setting(std::string_view section, std::string_view service,
                                                             std::string_view key) const {
        auto s = services_.find(section);
        if (s == services_.end()) return std::nullopt;
        auto svc = s->second.find(sluice::text::to_lower(service));
        if (svc == s->second.end()) return std::nullopt;
        auto v = svc->second.find(sluice::text::to_lower(key));
        if (v == svc->second.end()) return std::nullopt;
        return v->second;
    }

    /// The names of every profile either file defines, sorted.
    [[nodiscard]] std::vector<std::string> profile_names() const {
        std::vector<std::string> names;
        for (const auto& [n, _] : config_.profiles) names.push_back(n);
        for (const auto& [n, _] : credentials_.profiles)
            if (!config_.profiles.count(n)) names.push_back(n);
        std::sort(names.begin(), names.end());
        return names;
    }

private:
    struct file_data {
        std::map<std::string, property_map, std::less<>> profiles;
    };

    // Parses one file. Properties go to the section they belong to; sections the SDKs ignore are parsed
    // (so that their syntax errors are still reported) into a scratch map and dropped.
    std::optional<error> parse_into(std::string_view text, kind which, std::string_view path) {
        using detail::aws_cfg::strip_comment;
        using detail::aws_cfg::whitespace;
        using sluice::text::to_lower;
        using sluice::text::trim;
        file_data& data = which == kind::config ? config_ : credentials_;
        property_map scratch;
        std::map<std::string, property_map, std::less<>> services_raw; // [services NAME]: service -> raw sub-section
        property_map* current = nullptr; // the section being read; `scratch` for ignored ones
        std::string last_key;            // the property that indented lines continue
        bool last_is_subsection = false;
        bool in_section = false;
        // In config, [profile default] replaces [default] wherever each appears: [default] is kept
        // aside and used at the end only if there was no [profile default].
        property_map bare_default;
        bool bare_default_seen = false;
        bool profile_default_seen = false;

        auto fail = [&](std::size_t line_no, const char* what) {
            error e;
            e.source = "aws config";
            e.message = std::string(path) + " line " + std::to_string(line_no) + ": " + what;
            e.code = std::make_error_code(std::errc::invalid_argument);
            return e;
        };

        std::size_t line_no = 0;
        while (!text.empty()) {
            ++line_no;
            const std::size_t nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

            const std::string_view content = trim(line);
            if (content.empty() || content.front() == '#' || content.front() == ';') continue;

            if (line.front() == '[') {
                std::string_view head = trim(strip_comment(trim(line), false));
                if (head.size() < 2 || head.back() != ']') return fail(line_no, "a section line must end with ']'");
                head = trim(head.substr(1, head.size() - 2));
                std::string_view prefix, name = head;
                if (const std::size_t sp = head.find_first_of(whitespace); sp != std::string_view::npos) {
                    prefix = head.substr(0, sp);
                    name = trim(head.substr(sp + 1));
                }
                in_section = true;
                last_key.clear();
                current = &scratch;
                scratch.clear();
                if (which == kind::config) {
                    if (prefix.empty() && name == "default") {
                        bare_default_seen = true;
                        current = &bare_default;
                    } else if (prefix == "profile" && !name.empty()) {
                        profile_default_seen = profile_default_seen || name == "default";
                        current = &data.profiles[std::string(name)];
                    } else if (prefix == "services" && !name.empty()) {
                        current = &services_raw[std::string(name)];
                    }
                } else if (prefix.empty() && !name.empty()) {
                    current = &data.profiles[std::string(name)];
                }
                continue;
            }

            if (!in_section) return fail(line_no, "a property outside any [section]");

            if (line.front() == ' ' || line.front() == '\t') {
                if (last_key.empty()) return fail(line_no, "an indented line that continues no property");
                std::string_view cont = content;
                if (last_is_subsection) {
                    cont = trim(strip_comment(cont, true));
                    if (!cont.empty() && cont.find('=') == std::string_view::npos)
                        return fail(line_no, "a sub-property without '='");
                    if (cont.empty()) continue;
                }
                std::string& value = (*current)[last_key];
                value += '\n';
                value += cont;
                continue;
            }

            const std::string_view prop = trim(strip_comment(content, true));
            const std::size_t eq = prop.find('=');
            if (eq == std::string_view::npos) return fail(line_no, "expected 'name = value'");
            const std::string_view key = trim(prop.substr(0, eq));
            if (key.empty()) return fail(line_no, "a property without a name");
            last_key = to_lower(key);
            const std::string_view value = trim(prop.substr(eq + 1));
            last_is_subsection = value.empty();
            (*current)[last_key] = std::string(value);
        }

        if (which == kind::config) {
            if (bare_default_seen && !profile_default_seen) data.profiles["default"] = std::move(bare_default);
            for (const auto& [section, props] : services_raw) {
                auto& services = services_[section];
                for (const auto& [service, raw] : props) parse_subproperties(raw, services[service]);
            }
        }
        return std::nullopt;
    }

    static void parse_subproperties(std::string_view raw, property_map& out) {
        using detail::aws_cfg::strip_comment;
        using sluice::text::to_lower;
        using sluice::text::trim;
        while (!raw.empty()) {
            const std::size_t nl = raw.find('\n');
            std::string_view line = trim(raw.substr(0, nl));
            raw = nl == std::string_view::npos ? std::string_view{} : raw.substr(nl + 1);
            const std::size_t eq = line.find('=');
            if (eq == std::string_view::npos) continue;
            const std::string_view key = trim(line.substr(0, eq));
            if (key.empty()) continue;
            out[to_lower(key)] = std::string(trim(line.substr(eq + 1)));
        }
    }

    file_data config_;
    file_data credentials_;
    std::map<std::string, std::map<std::string, property_map, std::less<>>, std::less<>> services_;
};

/// Where the shared files are: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and
/// ~/.aws/credentials under $HOME (a leading `~/` in the variables is expanded too).
struct shared_file_paths {
    /// The config file's path.
    std::string config;
    /// The credentials file's path.
    std::string credentials;

    /// The paths as `env` (the environment) says.
    [[nodiscard]] static shared_file_paths from(const env_lookup& env) {
        auto home = env("HOME");
        auto expand = [&](std::string path) {
            if (home && (path == "~" || path.rfind("~/", 0) == 0)) path = *home + path.substr(1);
            return path;
        };
        auto pick = [&](std::string_view var, std::string_view fallback) -> std::string {
            if (auto v = env(var); v && !sluice::text::trim(*v).empty())
                return expand(std::string(sluice::text::trim(*v)));
            if (!home || home->empty()) return {};
            return *home + "/.aws/" + std::string(fallback);
        };
        return {pick("AWS_CONFIG_FILE", "config"), pick("AWS_SHARED_CREDENTIALS_FILE", "credentials")};
    }
};

/// How aws_config::load finds things.
struct config_options {
    /// The profile; empty: AWS_PROFILE, else "default".
    std::string profile;
    /// The environment; empty: the process environment.
    env_lookup env;
};

/// The DNS suffix of a region's partition: amazonaws.com, or the China and isolated partitions' own.
[[nodiscard]] inline std::string_view dns_suffix(std::string_view region) noexcept {
    if (region.rfind("cn-", 0) == 0) return "amazonaws.com.cn";
    if (region.rfind("us-isob-", 0) == 0) return "sc2s.sgov.gov";
    if (region.rfind("us-iso-", 0) == 0) return "c2s.ic.gov";
    if (region.rfind("eu-isoe-", 0) == 0) return "cloud.adc-e.uk";
    if (region.rfind("us-isof-", 0) == 0) return "csp.hci.ic.gov";
    return "amazonaws.com";
}

/// `https://<service>.<region>.<partition suffix>`.
[[nodiscard]] inline std::string default_endpoint(std::string_view service, std::string_view region) {
    std::string url = "https://";
    url += sluice::text::to_lower(service);
    url += '.';
    url += region;
    url += '.';
    url += dns_suffix(region);
    return url;
}

/// The variable that overrides a service's endpoint: AWS_ENDPOINT_URL_ + the service id upper-cased,
/// spaces and dashes as underscores ("sqs" -> AWS_ENDPOINT_URL_SQS, "Elastic Beanstalk" ->
/// AWS_ENDPOINT_URL_ELASTIC_BEANSTALK).
[[nodiscard]] inline std::string endpoint_env_name(std::string_view service_id) {
    std::string name = "AWS_ENDPOINT_URL_";
    for (char c : sluice::text::trim(service_id)) name += (c == ' ' || c == '-') ? '_' : sluice::text::upper(c);
    return name;
}

/// A service's key in a `[services]` section: the service id lower-cased, spaces as underscores.
[[nodiscard]] inline std::string endpoint_config_key(std::string_view service_id) {
    std::string key;
    for (char c : sluice::text::trim(service_id)) key += c == ' ' ? '_' : sluice::text::lower(c);
    return key;
}

/// True for what a region can be: lower-case letters, digits and dashes (it goes into a host name).
[[nodiscard]] inline bool valid_region(std::string_view region) noexcept {
    if (region.empty() || region.size() > 63) return false;
    return std::all_of(region.begin(), region.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

/// The environment, the shared files and the selected profile, and what they resolve to.
class aws_config {
public:
    aws_config() : aws_config(shared_files{}, process_environment()) {}

    /// Built from parsed files (tests, or files kept in memory). `profile` empty: AWS_PROFILE, else "default".
    aws_config(shared_files files, env_lookup env, std::string profile = {}, shared_file_paths paths = {})
        : env_(env ? std::move(env) : process_environment()), files_(std::move(files)), paths_(std::move(paths)) {
        choose_profile(std::move(profile));
    }

    /// Reads the environment and the shared files. Fails only when a file is unreadable or malformed.
    [[nodiscard]] static result<aws_config> load(config_options options = {}) {
        env_lookup env = options.env ? std::move(options.env) : process_environment();
        auto paths = shared_file_paths::from(env);
        auto files = shared_files::read(paths.config, paths.credentials);
        if (!files) return result<aws_config>::failure(files.get_error());
        return result<aws_config>::ok(
            aws_config(std::move(files).value(), std::move(env), std::move(options.profile), std::move(paths)));
    }

    /// The selected profile's name.
    [[nodiscard]] const std::string& profile_name() const noexcept { return profile_; }
    /// True when the profile was named (explicitly or by AWS_PROFILE) rather than defaulted: then a
    /// profile that does not exist is a configuration error rather than "nothing configured".
    [[nodiscard]] bool profile_named() const noexcept { return profile_named_; }
    /// True when either shared file defines the selected profile.
    [[nodiscard]] bool has_profile() const { return files_.has_profile(profile_); }

    /// The shared files as they were read.
    [[nodiscard]] const shared_files& files() const noexcept { return files_; }
    /// Where they were read from.
    [[nodiscard]] const shared_file_paths& paths() const noexcept { return paths_; }
    /// The environment settings are looked up in.
    [[nodiscard]] const env_lookup& environment() const noexcept { return env_; }

    /// An environment variable, trimmed; nullopt when unset or blank (the SDKs treat blank as unset).
    [[nodiscard]] std::optional<std::string> env(std::string_view name) const {
        auto v = env_(name);
        if (!v) return std::nullopt;
        const std::string_view t = sluice::text::trim(*v);
        if (t.empty()) return std::nullopt;
        return std::string(t);
    }

    /// A property of the selected profile, trimmed; nullopt when unset or blank.
    [[nodiscard]] std::optional<std::string> profile_value(std::string_view key) const {
        auto v = files_.get(profile_, key);
        if (!v || sluice::text::trim(*v).empty()) return std::nullopt;
        return std::string(sluice::text::trim(*v));
    }

    /// explicit > AWS_REGION > AWS_DEFAULT_REGION > the profile's `region`. Fails when none is set or
    /// the one found is not a region name.
    [[nodiscard]] result<std::string> region(std::string_view explicit_region = {}) const {
        std::optional<std::string> found;
        std::string from;
        if (auto t = sluice::text::trim(explicit_region); !t.empty()) {
            found = std::string(t);
            from = "the explicit region";
        } else if (auto r = env("AWS_REGION")) {
            found = std::move(r);
            from = "AWS_REGION";
        } else if (auto d = env("AWS_DEFAULT_REGION")) {
            found = std::move(d);
            from = "AWS_DEFAULT_REGION";
        } else if (auto p = profile_value("region")) {
            found = std::move(p);
            from = "the region of profile '" + profile_ + "'";
        }
        if (!found) {
            return failure<std::string>(
                "no AWS region: pass one, set AWS_REGION (or AWS_DEFAULT_REGION), or set `region` in profile '" +
                profile_ + "' of " + describe(paths_.config, "the config file"));
        }
        if (!valid_region(*found)) return failure<std::string>(from + " is not a valid region name");
        return result<std::string>::ok(std::move(*found));
    }

    /// True when configured endpoints are to be ignored: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, else the
    /// profile's `ignore_configured_endpoint_urls`.
    [[nodiscard]] bool ignore_configured_endpoints() const {
        if (auto v = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
            if (auto b = detail::aws_cfg::parse_bool(*v)) return *b;
        if (auto v = profile_value("ignore_configured_endpoint_urls"))
            if (auto b = detail::aws_cfg::parse_bool(*v)) return *b;
        return false;
    }

    /// The endpoint URL for `service` (its service id, e.g. "sqs", "sts"):
    ///   explicit_endpoint > AWS_ENDPOINT_URL_<SERVICE> > AWS_ENDPOINT_URL > the profile's
    ///   `[services]` section > the profile's `endpoint_url` > default_endpoint(service, region).
    /// The configured ones (all but the explicit one) are skipped when ignore_configured_endpoints().
    /// `region` is only needed for the default; without one the default fails.
    [[nodiscard]] result<std::string> endpoint(std::string_view service, std::string_view region,
                                               std::string_view explicit_endpoint = {}) const {
        if (auto t = sluice::text::trim(explicit_endpoint); !t.empty())
            return result<std::string>::ok(std::string(t));
        if (!ignore_configured_endpoints()) {
            if (auto v = env(endpoint_env_name(service))) return result<std::string>::ok(std::move(*v));
            if (auto v = env("AWS_ENDPOINT_URL")) return result<std::string>::ok(std::move(*v));
            if (auto section = profile_value("services")) {
                if (auto v = files_.service_setting(*section, endpoint_config_key(service), "endpoint_url");
                    v && !sluice::text::trim(*v).empty())
                    return result<std::string>::ok(std::string(sluice::text::trim(*v)));
            }
            if (auto v = profile_value("endpoint_url")) return result<std::string>::ok(std::move(*v));
        }
        if (region.empty())
            return failure<std::string>("no endpoint for " + std::string(service) +
                                        ": no region to build the default one from");
        if (!valid_region(region))
            return failure<std::string>("'" + std::string(region) + "' is not a valid region name");
        return result<std::string>::ok(default_endpoint(service, region));
    }

private:
    void choose_profile(std::string explicit_profile) {
        if (auto t = sluice::text::trim(explicit_profile); !t.empty()) {
            profile_ = std::string(t);
            profile_named_ = true;
        } else if (auto p = env("AWS_PROFILE")) {
            profile_ = std::move(*p);
            profile_named_ = true;
        } else {
            profile_ = "default";
        }
    }

    static std::string describe(const std::string& path, const char* fallback) {
        return path.empty() ? std::string(fallback) : path;
    }

    template <class T>
    static result<T> failure(std::string message) {
        error e;
        e.source = "aws config";
        e.message = std::move(message);
        e.code = std::make_error_code(std::errc::invalid_argument);
        return result<T>::failure(std::move(e));
    }

    env_lookup env_;
    shared_files files_;
    shared_file_paths paths_;
    std::string profile_;
    bool profile_named_ = false;
};

} // namespace sluice::aws
