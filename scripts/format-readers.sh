#!/usr/bin/env bash
# Installs the independent readers of the integration-formats tests: DuckDB (@duckdb/node-api, whose
# Linux binary comes from the npm registry) and hyparquet with hyparquet-compressors, pinned by
# tests/readers/package-lock.json.
#
#   bash scripts/format-readers.sh install
#
# Runs `npm ci` in tests/readers when node_modules is missing or older than the lock file (a stamp
# holds the lock's hash), one install at a time, and checks that node can load both readers. Fails
# loudly (the last lines of npm's output) when npm or the registry is not there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readers="$root/tests/readers"
stamp="$readers/node_modules/.sluice-lock-sha256"

die() { echo "format-readers: error: $*" >&2; exit 1; }

[[ "${1:-}" == install ]] || { echo "usage: $0 install" >&2; exit 2; }
command -v node >/dev/null || die "node is not installed (run scripts/install-deps.sh)"
command -v npm >/dev/null || die "npm is not installed (run scripts/install-deps.sh)"
command -v flock >/dev/null || die "flock is not installed (util-linux)"

lock_hash() { sha256sum "$readers/package-lock.json" | cut -d' ' -f1; }
current() { [[ -f "$stamp" && "$(cat "$stamp")" == "$(lock_hash)" ]]; }

exec 9>"$readers/.install.lock"
flock 9
if ! current; then
    echo "format-readers: installing DuckDB and hyparquet into tests/readers/node_modules (npm ci)"
    log="$readers/.npm-ci.log"
    if ! (cd "$readers" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        echo "--- npm ci output (last 30 lines) ---" >&2
        tail -n 30 "$log" >&2
        die "npm ci in tests/readers failed (is the npm registry reachable?)"
    fi
    lock_hash >"$stamp"
fi
exec 9>&-

# Both readers must load (DuckDB's native binding in particular).
check='import("@duckdb/node-api").then(async (d) => { const db = await d.DuckDBInstance.create(":memory:");
  const c = await db.connect(); const r = await c.runAndReadAll("select 40 + 2 as x");
  if (r.getRowsJson()[0][0] !== 42) throw new Error("DuckDB answered " + JSON.stringify(r.getRowsJson()));
  await import("hyparquet"); await import("hyparquet-compressors"); })'
(cd "$readers" && node --input-type=module -e "$check") || die "node cannot load DuckDB or hyparquet from tests/readers"
echo "format-readers: ready ($(node --version), tests/readers)"
