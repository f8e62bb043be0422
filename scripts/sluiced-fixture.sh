#!/usr/bin/env bash
# Starts and stops sluiced under load for the promtool, Prometheus and browser checks of its /metrics
# and status page (the same checks tests/support/status_demo.cpp gets): a configured pipeline "main"
# (a queue broadcasting to an NDJSON and a CSV file sink) and a firehose "clicks" created over the API
# (Parquet), fed by a load generator posting 10 messages every 100 ms to each.
#
#   scripts/sluiced-fixture.sh start <sluiced> <state-dir>   writes <state-dir>/endpoint
#   scripts/sluiced-fixture.sh stop <state-dir>              idempotent; fails unless sluiced drained and
#                                                            every message the generator had answered is
#                                                            in the files, once
set -euo pipefail

die() { echo "sluiced-fixture: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 start <sluiced> <state-dir> | stop <state-dir>" >&2; exit 2; }

pid_of() { [[ -f "$state/$1.pid" ]] && cat "$state/$1.pid" || true; }

stop() {
    local gen sluiced rc=0
    gen="$(pid_of generator)"
    [[ -n "$gen" ]] && kill "$gen" 2>/dev/null && while kill -0 "$gen" 2>/dev/null; do sleep 0.1; done
    sluiced="$(pid_of sluiced)"
    if [[ -n "$sluiced" ]] && kill -0 "$sluiced" 2>/dev/null; then
        kill -TERM "$sluiced"
        for _ in $(seq 300); do kill -0 "$sluiced" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$sluiced" 2>/dev/null && { kill -9 "$sluiced"; die "sluiced did not stop within 30 s"; }
    fi
    rm -f "$state/generator.pid" "$state/sluiced.pid"
    [[ -f "$state/answered" ]] || return 0
    # Every message the generator had answered: in both files of "main", and in the firehose's files.
    python3 - "$state" <<'EOF' || rc=1
import glob, json, os, sys
state = sys.argv[1]
answered = [int(l) for l in open(os.path.join(state, "answered")) if l.strip()]
want = set()
for batch in answered:
    want.update(range(batch * 10, batch * 10 + 10))
def ids(pattern, column):
    found = []
    for f in glob.glob(os.path.join(state, pattern)):
        for line in open(f, encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("id"):
                continue
            found.append(int(json.loads(line)["id"]) if column is None else int(line.split(",")[column]))
    return found
ok = True
for name, found in (("main/ndjson", ids("out/main-ndjson/*.ndjson", None)), ("main/csv", ids("out/main-csv/*.csv", 0))):
    extra = set(found) - want
    if not want <= set(found) or len(found) != len(set(found)):
        ok = False
    print(f"sluiced-fixture: {name}: {len(found)} records, {len(want - set(found))} answered but missing, "
          f"{len(found) - len(set(found))} twice, {len(extra)} in flight at the stop")
sys.exit(0 if ok else 1)
EOF
    [[ "$rc" -eq 0 ]] || die "records are missing or written twice (see above)"
}

[[ $# -ge 2 ]] || usage
case "$1" in
start)
    [[ $# -eq 3 ]] || usage
    sluiced="$2"
    state="$3"
    stop || true
    rm -rf "$state" && mkdir -p "$state/out"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$state/sluiced.toml" <<EOF
[sources.api]
type = "http"
port = $port
queue = "main"

[queues.main]
[[queues.main.routes]]
by = "broadcast"
sinks = ["main-ndjson", "main-csv"]

[sinks.main-ndjson]
type = "file"
directory = "$state/out/main-ndjson"
[sinks.main-ndjson.batch]
max_age = "2s"

[sinks.main-csv]
type = "file"
directory = "$state/out/main-csv"
format = "csv"
[sinks.main-csv.batch]
max_age = "3s"
EOF
    setsid "$sluiced" --config "$state/sluiced.toml" --state-dir "$state/state" --grace 20 >"$state/sluiced.log" 2>&1 &
    echo $! >"$state/sluiced.pid"
    base="http://127.0.0.1:$port"
    for _ in $(seq 100); do curl -sf -o /dev/null "$base/health" && break; sleep 0.1; done
    curl -sf -o /dev/null "$base/health" || { cat "$state/sluiced.log" >&2; die "sluiced did not start"; }
    curl -sf -o /dev/null -H 'Content-Type: application/json' "$base/minifirehoses" \
        -d '{"name":"clicks","sinks":{"parquet":{"type":"file","directory":"'"$state"'/out/clicks","format":"parquet"}},"buffer_time_limit":2}' ||
        die "could not create the firehose"
    # The load: batch n carries ids 10n..10n+9; an answered batch is appended to `answered`.
    (
        n=0
        while :; do
            body="[$(for i in $(seq 0 9); do printf '%s{"id":%d,"page":"/p%d"}' "$([[ $i -gt 0 ]] && echo ,)" $((n * 10 + i)) $((i % 3)); done)]"
            curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$body" "$base/minifirehoses/main/message" && echo "$n" >>"$state/answered"
            curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$body" "$base/minifirehoses/clicks/message" || true
            n=$((n + 1))
            sleep 0.1
        done
    ) </dev/null >/dev/null 2>&1 &
    echo $! >"$state/generator.pid"
    echo "$base" >"$state/endpoint"
    echo "sluiced-fixture: sluiced on $base under load"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    state="$2"
    stop
    ;;
*) usage ;;
esac
