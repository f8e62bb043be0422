# Sourced by the scripts that start and stop a test server in the background (bulk-fixture.sh,
# pulsar-fixture.sh, aws-fixture.sh, status-demo.sh): finding the server of a state folder, waiting
# for it to answer, and stopping it.

# fixture_pid <state-dir> <pattern>: the pid in <state-dir>/pid when that process still runs and its
# command line matches <pattern> (a recycled pid is not ours); nothing otherwise.
fixture_pid() {
    local pid
    [[ -f "$1/pid" ]] || return 0
    pid="$(cat "$1/pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"; then echo "$pid"; fi
}

# fixture_stop <state-dir> <pattern> <who>: SIGTERM, up to 5 s, then SIGKILL; removes pid, endpoint and
# fixture.json from <state-dir>. Does nothing when no such server runs.
fixture_stop() {
    local pid i
    pid="$(fixture_pid "$1" "$2")"
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "$3: stopped (pid $pid)"
    fi
    rm -f "$1/pid" "$1/endpoint" "$1/fixture.json"
}

# fixture_wait_ready <state-dir> <path> <log> <who>: waits up to 10 s until the server started as
# <state-dir>/pid has written <state-dir>/endpoint and answers GET <endpoint><path>; returns 1 early if
# it exits. Not ready: prints its <log> to stderr and returns 1.
fixture_wait_ready() {
    local _
    for _ in $(seq 1 100); do
        if [[ -s "$1/endpoint" ]] && curl -sf --max-time 2 "$(cat "$1/endpoint")$2" >/dev/null; then
            echo "$4: listening on $(cat "$1/endpoint")"
            return 0
        fi
        kill -0 "$(cat "$1/pid")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2 || true
    return 1
}
