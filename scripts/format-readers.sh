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
# shellcheck source=scripts/lib/npm-pinned.sh
source "$root/scripts/lib/npm-pinned.sh"

die() { echo "format-readers: error: $*" >&2; exit 1; }

[[ "${1:-}" == install ]] || { echo "usage: $0 install" >&2; exit 2; }
npm_ci_pinned "$readers" format-readers "DuckDB and hyparquet" || die "could not install the readers"

# Both readers must load (DuckDB's native binding in particular).
check='import("@duckdb/node-api").then(async (d) => { const db = await d.DuckDBInstance.create(":memory:");
  const c = await db.connect(); const r = await c.runAndReadAll("select 40 + 2 as x");
  if (r.getRowsJson()[0][0] !== 42) throw new Error("DuckDB answered " + JSON.stringify(r.getRowsJson()));
  await import("hyparquet"); await import("hyparquet-compressors"); })'
(cd "$readers" && node --input-type=module -e "$check") || die "node cannot load DuckDB or hyparquet from tests/readers"
echo "format-readers: ready ($(node --version), tests/readers)"
