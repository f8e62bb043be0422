# Sourced by the scripts that install npm packages for the tests (format-readers.sh, bulk-fixture.sh,
# pulsar-fixture.sh, status-page-browser.sh): one way to install a folder's packages, pinned by its
# package-lock.json.
#
#   npm_ci_pinned <dir> <who> [what]
#
# Runs `npm ci --ignore-scripts` in <dir> (no install script runs: nothing downloads a browser or a
# server) when node_modules is missing or was installed from another lock file (a stamp holds the
# lock's hash), one install at a time across build trees (flock on <dir>/.install.lock). Needs node 18
# or newer and npm. On failure prints the last lines of npm's output and returns 1; <who> names the
# caller in messages, [what] the packages.

npm_ci_pinned() {
    local dir="$1" who="$2" what="${3:-packages}" stamp hash major
    stamp="$dir/node_modules/.sluice-lock-sha256"
    command -v node >/dev/null || { echo "$who: error: node is not installed (run scripts/install-deps.sh)" >&2; return 1; }
    command -v npm >/dev/null || { echo "$who: error: npm is not installed (run scripts/install-deps.sh)" >&2; return 1; }
    command -v flock >/dev/null || { echo "$who: error: flock is not installed (util-linux)" >&2; return 1; }
    major="$(node -p 'process.versions.node.split(".")[0]')"
    ((major >= 18)) || { echo "$who: error: node $(node --version) is too old: Node 18 or newer is needed" >&2; return 1; }
    exec 9>"$dir/.install.lock"
    flock 9
    hash="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$hash" ]]; then
        echo "$who: installing $what into $(basename "$(dirname "$dir")")/$(basename "$dir")/node_modules (npm ci)"
        if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$dir/.npm-ci.log" 2>&1; then
            echo "--- npm ci output (last 30 lines) ---" >&2
            tail -n 30 "$dir/.npm-ci.log" >&2
            echo "$who: error: npm ci in $dir failed (is the npm registry reachable?)" >&2
            exec 9>&-
            return 1
        fi
        echo "$hash" >"$stamp"
    fi
    exec 9>&-
}
