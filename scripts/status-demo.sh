#!/usr/bin/env bash
# Starts and stops tests/support/status_demo.cpp, a small service with real delivery pipelines behind
# the observability routes (metrics/status_page.hpp), for the promtool, Prometheus and browser tests.
#
#   scripts/status-demo.sh start <status_demo binary> <state-dir>   writes <state-dir>/endpoint
#   scripts/status-demo.sh stop <state-dir>     idempotent; fails when the demo, told to stop, does not
#                                               account for every record it sent
set -euo pipefail

# shellcheck source=scripts/lib/fixture.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/fixture.sh"

die() { echo "status-demo: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 start <binary> <state-dir> | stop <state-dir>" >&2; exit 2; }

running_pid() { fixture_pid "$state" status_demo; }

# stop [check]: stops the demo (it drains and accounts for every record when told to stop); with
# `check`, fails unless it said that every record is accounted for.
stop() {
    local pid verdict=0
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 450); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            echo "status-demo: killed (pid $pid): it did not stop within 45 s" >&2
            verdict=1
        fi
        echo "status-demo: stopped (pid $pid)"
        grep '^status_demo: ' "$state/status_demo.log" 2>/dev/null | tail -n 8 || true
        if [[ "${1:-}" == check ]] && ! grep -q '^status_demo: every record accounted for$' "$state/status_demo.log"; then
            tail -n 30 "$state/status_demo.log" >&2 || true
            verdict=1
        fi
    fi
    rm -f "$state/pid" "$state/endpoint"
    return "$verdict"
}

case "${1:-}" in
    stop)
        [[ $# -eq 2 ]] || usage
        state="$2"
        stop check || die "the demo lost track of records (see above)"
        ;;
    start)
        [[ $# -eq 3 ]] || usage
        binary="$2"
        state="$3"
        [[ -x "$binary" ]] || die "$binary is not built"
        command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"
        mkdir -p "$state"
        stop >/dev/null || true
        rm -rf "$state/clicks-buffer" # a fresh disk buffer: each run counts its own records
        setsid "$binary" "$state" </dev/null >"$state/status_demo.log" 2>&1 &
        echo $! >"$state/pid"
        fixture_wait_ready "$state" /health "$state/status_demo.log" status-demo && exit 0
        stop >/dev/null || true
        die "the demo did not answer"
        ;;
    *) usage ;;
esac
