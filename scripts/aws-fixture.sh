#!/usr/bin/env bash
# Starts and stops tests/support/aws_fixture.cpp, the loopback stand-in for the AWS batch APIs without
# an emulator (Firehose, CloudWatch metrics, CloudWatch Logs; docs/aws-fixtures.md), on 127.0.0.1.
#
#   scripts/aws-fixture.sh start <aws_fixture binary> <state-dir>   writes <state-dir>/endpoint
#   scripts/aws-fixture.sh stop <state-dir>                         idempotent
set -euo pipefail

# shellcheck source=scripts/lib/fixture.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/fixture.sh"

die() { echo "aws-fixture: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 start <binary> <state-dir> | stop <state-dir>" >&2; exit 2; }

running_pid() { fixture_pid "$state" aws_fixture; }

stop() { fixture_stop "$state" aws_fixture aws-fixture; }

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
        fixture_wait_ready "$state" /fixture/stats "$state/aws_fixture.log" aws-fixture && exit 0
        stop >/dev/null
        die "the fixture did not answer"
        ;;
    *) usage ;;
esac
