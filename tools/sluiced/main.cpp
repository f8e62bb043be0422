// sluiced: the sluice service, configured by a TOML file (examples/sluiced.toml documents the format).
// This version checks configuration files; running the pipelines they define comes later.

#include <cstdio>
#include <string_view>

#include <sluice/config/summary.hpp>
#include <sluice/config/toml_config.hpp>

namespace {

constexpr std::string_view help_text =
    "usage: sluiced validate FILE\n"
    "       sluiced --help\n"
    "\n"
    "sluiced runs sluice pipelines (sources -> collector queues -> sinks) described by a TOML file;\n"
    "see examples/sluiced.toml for every option.\n"
    "\n"
    "commands:\n"
    "  validate FILE   check FILE: print every error as 'file:line:column: message' and exit 1,\n"
    "                  or print what it defines (names and types, never secrets) and exit 0\n"
    "  --help, -h      print this help\n"
    "\n"
    "String values may use ${NAME} to read an environment variable (for secrets); such values are\n"
    "never printed. Running the pipelines (sluiced --config FILE) is not implemented yet: this\n"
    "version only validates configuration files.\n";

int usage_error(std::string_view why) {
    std::fprintf(stderr, "sluiced: %.*s\n%.*s", static_cast<int>(why.size()), why.data(),
                 static_cast<int>(help_text.size()), help_text.data());
    return 2;
}

int validate(const char* file) {
    const auto result = sluice::config::load_config(file);
    if (!result.ok()) {
        for (const auto& e : result.errors) std::printf("%s\n", e.to_string().c_str());
        std::printf("%s: %zu error%s\n", file, result.errors.size(), result.errors.size() == 1 ? "" : "s");
        return 1;
    }
    const std::string summary = sluice::config::describe(*result.config);
    std::printf("%s: valid\n%s", file, summary.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view command = argc > 1 ? std::string_view(argv[1]) : std::string_view();
    if (argc == 2 && (command == "--help" || command == "-h")) {
        std::fwrite(help_text.data(), 1, help_text.size(), stdout);
        return 0;
    }
    if (command == "validate") {
        if (argc != 3) return usage_error("validate takes exactly one FILE");
        return validate(argv[2]);
    }
    if (argc < 2) return usage_error("no command given");
    return usage_error("unknown command or option '" + std::string(command) + "'");
}
