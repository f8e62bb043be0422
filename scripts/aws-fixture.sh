#!/usr/bin/env bash
# Starts and stops tests/support/aws_fixture.cpp, the loopback stand-in for the AWS batch APIs without
# an emulator (Firehose, CloudWatch metrics, CloudWatch Logs; docs/aws-fixtures.md), on 127.0.0.1.
#
#   scripts/aws-fixture.sh start <aws_fixture binary> <state-dir>   writes <state-dir>/endpoint
#   scripts/aws-fixture.sh stop <state-dir>                         idempotent
set -euo pipefail

die() { echo "aws-fixture: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 start <binary> <state-dir> | stop <state-dir>" >&2; exit 2; }

running_pid() {
    local pid
    [[ -f "$state/pid" ]] || return 0
    pid="$(cat "$state/pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    # A recycled pid is not ours: check what runs under it.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q aws_fixture; then echo "$pid"; fi
}

stop() {
    local pid
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "aws-fixture: stopped (pid $pid)"
    fi
    rm -f "$state/pid" "$state/endpoint"
}

case "${1:-}" in
    stop)
        [[ $# -eq 2 ]] || usage
        state="$2"
        stop
        ;;
    start)
        [[ $# -eq 3 ]] || usage
        binary="$2"
        state="$3"
        [[ -x "$binary" ]] || die "$binary is not built"
        command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"
        mkdir -p "$state"
        stop >/dev/null
        setsid "$binary" "$state" </dev/null >"$state/aws_fixture.log" 2>&1 &
        echo $! >"$state/pid"
        for _ in $(seq 1 100); do
            if [[ -s "$state/endpoint" ]] && curl -sf --max-time 2 "$(cat "$state/endpoint")/fixture/stats" >/dev/null; then
                echo "aws-fixture: listening on $(cat "$state/endpoint")"
                exit 0
            fi
            kill -0 "$(cat "$state/pid")" 2>/dev/null || break
            sleep 0.1
        done
        cat "$state/aws_fixture.log" >&2 || true
        stop >/dev/null
        die "the fixture did not answer"
        ;;
    *) usage ;;
esac
