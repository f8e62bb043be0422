#!/usr/bin/env bash
# Starts and stops the loopback OpenSearch/Elasticsearch _bulk fixture of the tests
# (tests/opensearch/bulk-fixture.js, node's own http server) and installs, pinned by
# tests/opensearch/package-lock.json, the official JavaScript clients that
# tests/opensearch/compare-clients.js checks sluice's _bulk sink against. Bound to 127.0.0.1 only.
#
#   bash scripts/bulk-fixture.sh start <state-dir>
#   bash scripts/bulk-fixture.sh stop <state-dir>
#
# start: installs tests/opensearch/node_modules with `npm ci` when it is missing or older than the
#        lock file (once; several build trees share it), starts the fixture with the `node` on PATH
#        (Node 18 or newer) on a free port and writes into <state-dir>: fixture.json {"port"},
#        endpoint (http://127.0.0.1:PORT), pid, fixture.log.
# stop:  stops the fixture of <state-dir>; does nothing when none runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/opensearch"
# shellcheck source=scripts/lib/npm-pinned.sh
source "$root/scripts/lib/npm-pinned.sh"
# shellcheck source=scripts/lib/fixture.sh
source "$root/scripts/lib/fixture.sh"

die() { echo "bulk-fixture: error: $*" >&2; exit 1; }
[[ $# -eq 2 && -n "$2" ]] || { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }
action="$1"
state="$2"

install() {
    npm_ci_pinned "$dir" bulk-fixture || die "could not install the packages of ${dir#"$root"/}"
}

running_pid() { fixture_pid "$state" bulk-fixture.js; }
stop() { fixture_stop "$state" bulk-fixture.js bulk-fixture; }

start() {
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    stop
    install
    BULK_FIXTURE_STATE_FILE="$state/fixture.json" setsid node "$dir/bulk-fixture.js" </dev/null >"$state/fixture.log" 2>&1 &
    local pid=$! i
    echo "$pid" >"$state/pid"
    for ((i = 0; i < 100; i++)); do
        [[ -s "$state/fixture.json" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$state/fixture.log" >&2; die "the fixture exited during start-up"; }
        sleep 0.1
    done
    [[ -s "$state/fixture.json" ]] || { stop; die "the fixture did not listen within 10 s"; }
    echo "http://127.0.0.1:$(node -p "require('$state/fixture.json').port")" >"$state/endpoint"
    echo "bulk-fixture: listening on $(cat "$state/endpoint") (pid $pid, log $state/fixture.log)"
}

case "$action" in
    start) start ;;
    stop) [[ -d "$state" ]] && state="$(cd "$state" && pwd)"; stop ;;
    *) die "unknown action $action" ;;
esac
