#!/usr/bin/env bash
# sluiced run as a user runs it (ctest: sluiced_run), every record counted by id:
#   1. stdin -> a queue with a broadcast and a per-tenant (record field) route -> NDJSON and CSV files;
#      a line that is not JSON is skipped and reported; sluiced exits 0 when stdin ends; DuckDB reads
#      every file back.
#   2. the MiniFirehose API behind a bearer token: 401 without it; create a Parquet firehose, add
#      messages (one, a JSON array, NDJSON, ?wait=false), list, stats, the configured pipeline by name,
#      refusals (400 bad JSON and bad definitions with every reason, 404, 409, 415); /openapi.json
#      parses and names every route; /health, /metrics, /status.json.
#   3. kill -9 with records in an open object; the restart brings back the firehose (its persisted
#      definition) and writes those records; SIGTERM drains; DELETE removes the firehose and its
#      definition; nothing written twice, nothing lost.
#   4. SIGHUP: an invalid file changes nothing; a valid one restarts only the sink it changed (its open
#      object is written) and that sink's queue, while the unchanged sink keeps its open object; a new
#      queue starts.
#
#   bash tests/sluiced_run.sh <sluiced> <source dir> <work dir>
set -uo pipefail
sluiced="$1"
src="$2"
work="$3"
readers="$src/tests/readers"
fail() { printf 'sluiced_run: FAILED: %s\n' "$*" >&2; [[ -f "$work/log.txt" ]] && tail -20 "$work/log.txt" >&2; exit 1; }
pid=""
cleanup() { [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; }
trap cleanup EXIT
rm -rf "$work" && mkdir -p "$work" || fail "cannot make $work"
cd "$work" || fail "cannot enter $work"

# duckdb SQL -> the rows as JSON lines (via tests/readers/read.mjs).
duck() {
    python3 -c 'import json,sys; print(json.dumps([{"id":"q","duckdb":sys.argv[1]}]))' "$1" > plan.json
    node "$readers/read.mjs" plan.json | python3 -c '
import json,sys
r=json.load(sys.stdin)["q"]
if "error" in r: sys.exit("duckdb: "+r["error"])
for row in r["rows"]: print(json.dumps(row))'
}
# json FILE|- EXPR: evaluates a Python expression over the parsed JSON `j`.
json_get() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1]) if sys.argv[1]!="-" else sys.stdin); print(eval(sys.argv[2]))' "$@"; }

# ---- 1. stdin -> routes -> files ---------------------------------------------------------------
cat > stdin.toml <<EOF
[sources.in]
type = "stdin"

[queues.main]
[[queues.main.routes]]
by = "broadcast"
sinks = ["all"]
[[queues.main.routes]]
by = "field"
field = "tenant"
topic = "acme"
sinks = ["acme"]

[sinks.all]
type = "file"
directory = "$work/out/all"
format = "ndjson"
[sinks.all.batch]
max_events = 400

[sinks.acme]
type = "file"
directory = "$work/out/acme"
format = "csv"
EOF
python3 - > in.ndjson <<'EOF'
for i in range(1, 2001):
    tenant = "acme" if i % 3 == 0 else "other"
    print('{"id":%d,"tenant":"%s","note":"line, with \\"quotes\\""}' % (i, tenant))
    if i == 1000:
        print('{"id": broken')
EOF
"$sluiced" --config stdin.toml --state-dir state1 < in.ndjson > log.txt 2>&1 || fail "sluiced exited $? on stdin"
grep -q "line 1001 is not JSON; skipped" log.txt || fail "the line that is not JSON was not reported"
[[ "$(ls out/all | wc -l)" == 5 ]] || fail "expected 5 NDJSON objects of 400 records: $(ls out/all)"
got="$(duck "select count(*), count(distinct id), min(id), max(id) from read_json_auto('$work/out/all/*.ndjson')")"
[[ "$got" == '["2000", "2000", "1", "2000"]' ]] || fail "NDJSON read back: $got"
got="$(duck "select count(*), count(distinct id), sum(case when id % 3 = 0 then 1 else 0 end), min(note) from read_csv_auto('$work/out/acme/*.csv')")"
[[ "$got" == '["666", "666", "666", "line, with \"quotes\""]' ]] || fail "CSV read back: $got"
echo "sluiced_run: stdin -> 2000 records in NDJSON, 666 in CSV, read back by DuckDB"

# ---- 2. the API --------------------------------------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > api.toml <<EOF
[sources.api]
type = "http"
port = $port
bearer_token = "\${SLUICED_TEST_TOKEN}"

[queues.main]
[[queues.main.routes]]
by = "broadcast"
sinks = ["main_files"]

[sinks.main_files]
type = "file"
directory = "$work/out/main"
EOF
export SLUICED_TEST_TOKEN="tok-$RANDOM-s3cr3t"
base="http://127.0.0.1:$port"
start() {
    "$sluiced" --config api.toml --state-dir state2 --grace 10 >> log.txt 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "$base/health" > /dev/null && return 0; sleep 0.1; done
    fail "sluiced did not answer /health"
}
# call METHOD PATH [curl args...]: prints the status, the body goes to body.json.
call() {
    local method="$1" path="$2"
    shift 2
    curl -s -o body.json -w '%{http_code}' -X "$method" -H "Authorization: Bearer $SLUICED_TEST_TOKEN" "$@" "$base$path"
}
expect() { # expect STATUS METHOD PATH [curl args...]
    local want="$1"
    shift
    local got
    got="$(call "$@")"
    [[ "$got" == "$want" ]] || fail "$1 $2 answered $got, expected $want: $(cat body.json)"
}
: > log.txt
start
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/minifirehoses")" == 401 ]] || fail "no 401 without the token"
[[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$base/minifirehoses")" == 401 ]] || fail "no 401 with a wrong token"

definition='{"name":"clicks","sinks":{"pq":{"type":"file","directory":"'"$work"'/out/clicks","format":"parquet"}},"buffer_count_limit":100,"buffer_time_limit":600}'
expect 201 POST /minifirehoses -H 'Content-Type: application/json' -d "$definition"
[[ "$(json_get body.json 'j["sinks"][0]["name"]')" == clicks.pq ]] || fail "create answered $(cat body.json)"
expect 409 POST /minifirehoses -H 'Content-Type: application/json' -d "$definition"
expect 409 POST /minifirehoses -H 'Content-Type: application/json' -d '{"name":"main","sinks":{"x":{"type":"file","directory":"/tmp/x"}}}'
expect 400 POST /minifirehoses -H 'Content-Type: application/json' -d '{"name":"bad name","sinks":{"x":{"type":"sqs"}},"extra":1}'
[[ "$(json_get body.json 'len(j["errors"])')" == 3 ]] || fail "expected 3 reasons: $(cat body.json)"
grep -q "needs 'queue_url'" body.json || fail "the missing queue_url is not named: $(cat body.json)"
expect 400 POST /minifirehoses -H 'Content-Type: application/json' -d '{"name":"env","sinks":{"x":{"type":"file","directory":"${SLUICED_TEST_TOKEN}"}}}'
if grep -q s3cr3t body.json; then fail "an API request read the environment: $(cat body.json)"; fi

# 1 + 3 + 3 + 2 = 9 messages, ids 1..9, each form once.
expect 200 POST /minifirehoses/clicks/message -H 'Content-Type: application/json' -d '{"id":1,"page":"a"}'
[[ "$(json_get body.json 'j["accepted"]')" == 1 ]] || fail "one message: $(cat body.json)"
expect 200 POST /minifirehoses/clicks/message -H 'Content-Type: application/json' -d '[{"id":2,"page":"b"},{"id":3,"page":"c"},{"id":4,"page":"d"}]'
[[ "$(json_get body.json 'j["accepted"]')" == 3 ]] || fail "an array: $(cat body.json)"
expect 200 POST /minifirehoses/clicks/message -H 'Content-Type: application/x-ndjson' --data-binary $'{"id":5,"page":"e"}\n{"id":6,"page":"f"}\r\n\n{"id":7,"page":"g"}'
[[ "$(json_get body.json 'j["accepted"]')" == 3 ]] || fail "NDJSON: $(cat body.json)"
expect 202 POST '/minifirehoses/clicks/message?wait=false' -H 'Content-Type: application/json' -d '[{"id":8,"page":"h"},{"id":9,"page":"i"}]'
expect 400 POST /minifirehoses/clicks/message -H 'Content-Type: application/json' -d '{"id":10'
expect 400 POST /minifirehoses/clicks/message -H 'Content-Type: application/x-ndjson' --data-binary $'{"id":10}\nnope\n'
grep -q '"line 2 is not JSON"' body.json || fail "the bad NDJSON line is not named: $(cat body.json)"
expect 415 POST /minifirehoses/clicks/message -H 'Content-Type: text/plain' -d '{"id":10}'
expect 400 POST '/minifirehoses/clicks/message?topic=a%00b' -H 'Content-Type: application/json' -d '{"id":10}'
expect 404 POST /minifirehoses/nowhere/message -H 'Content-Type: application/json' -d '{"id":10}'
expect 200 POST /minifirehoses/main/message -H 'Content-Type: application/json' -d '{"id":100}'
expect 200 POST /message -H 'Content-Type: application/json' -d '{"id":101}'

expect 200 GET /minifirehoses
[[ "$(json_get body.json '",".join(p["name"]+":"+p["kind"] for p in j["minifirehoses"])')" == "main:pipeline,clicks:firehose" ]] ||
    fail "list: $(cat body.json)"
sleep 0.2 # the two wait=false messages
expect 200 GET /minifirehoses/clicks/stats
[[ "$(json_get body.json 'j["queue_stats"]["accepted"], j["sinks"][0]["delivered"]')" == "(9, 9)" ]] || fail "stats: $(cat body.json)"
expect 404 GET /minifirehoses/nowhere/stats
expect 409 DELETE /minifirehoses/main
expect 200 GET /openapi.json
json_get body.json '" ".join(sorted(j["paths"]))' > paths.txt || fail "openapi.json is not JSON"
for p in /minifirehoses '/minifirehoses/{name}' '/minifirehoses/{name}/message' '/minifirehoses/{name}/stats' /health /metrics /status.json; do
    grep -qF "$p" paths.txt || fail "openapi.json does not describe $p"
done
expect 200 GET /status.json
[[ "$(json_get body.json 'len(j["pipelines"])')" == 2 ]] || fail "status: $(cat body.json)"
expect 200 GET /metrics
grep -q '^sluice_events_in_total{component="objects",name="clicks.pq"} 9$' body.json || fail "metrics: $(grep clicks body.json)"
[[ -f state2/firehoses/clicks.json ]] || fail "the firehose definition was not persisted"
[[ -z "$(ls out/clicks 2>/dev/null)" ]] || fail "the firehose wrote an object before its limits: $(ls out/clicks)"
echo "sluiced_run: API answered every route; 9 messages in an open Parquet object"

# ---- 3. kill -9, restart, drain, delete --------------------------------------------------------
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
start
expect 200 GET /minifirehoses/clicks/stats
expect 200 POST /minifirehoses/clicks/message -H 'Content-Type: application/json' -d '{"id":10,"page":"j"}'
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
[[ $rc -eq 0 ]] || fail "SIGTERM: sluiced exited $rc"
grep -q "received Terminated: draining" log.txt || fail "no drain logged"
got="$(duck "select count(*), count(distinct id), min(id), max(id) from read_parquet('$work/out/clicks/*.parquet')")"
[[ "$got" == '["10", "10", "1", "10"]' ]] || fail "Parquet read back after kill -9 and restart: $got"
got="$(duck "select count(*), min(id), max(id) from read_json_auto('$work/out/main/*.ndjson')")"
[[ "$got" == '["2", "100", "101"]' ]] || fail "the configured pipeline's file: $got"
start
expect 200 DELETE /minifirehoses/clicks
expect 404 DELETE /minifirehoses/clicks
[[ ! -f state2/firehoses/clicks.json ]] || fail "the deleted firehose's definition is still there"
kill -TERM "$pid"; wait "$pid"; pid=""
if grep -q "$SLUICED_TEST_TOKEN" log.txt; then fail "the token was logged"; fi
if grep -q '"page"' log.txt; then fail "a message body was logged"; fi
echo "sluiced_run: kill -9 and restart kept all 10 records; drain, delete: ok"

# ---- 4. SIGHUP reload --------------------------------------------------------------------------
reload_config() { # reload_config DIRECTORY_OF_SINK_CHANGE [extra TOML]
    cat > reload.toml <<EOF
[sources.api]
type = "http"
port = $port
queue = "main"

[queues.main]
[[queues.main.routes]]
by = "broadcast"
sinks = ["keep", "change"]

[sinks.keep]
type = "file"
directory = "$work/out/keep"

[sinks.change]
type = "file"
directory = "$1"
${2:-}
EOF
}
reload_config "$work/out/change1"
"$sluiced" --config reload.toml --state-dir state3 >> log.txt 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "$base/health" > /dev/null && break; sleep 0.1; done
expect 200 POST /minifirehoses/main/message -H 'Content-Type: application/json' -d '[{"id":1},{"id":2},{"id":3}]'
echo 'this is not TOML [' > reload.toml
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "is invalid; nothing changed" log.txt && break; sleep 0.1; done
grep -q "is invalid; nothing changed" log.txt || fail "an invalid file on SIGHUP was not reported"
expect 200 POST /minifirehoses/main/message -H 'Content-Type: application/json' -d '{"id":4}'
extra=$'[queues.extra]\n[[queues.extra.routes]]\nby = "broadcast"\nsinks = ["keep"]'
reload_config "$work/out/change2" "$extra"
kill -HUP "$pid"
done_line="reloaded: restarted 1 sink(s), 1 queue(s), 0 source(s)"
for _ in $(seq 100); do grep -qF "$done_line" log.txt && break; sleep 0.1; done
grep -qF "$done_line" log.txt || fail "the reload did not restart exactly the changed sink and its queue"
[[ -z "$(ls out/keep 2>/dev/null)" ]] || fail "the unchanged sink was restarted: $(ls out/keep)"
got="$(duck "select count(*), min(id), max(id) from read_json_auto('$work/out/change1/*.ndjson')")"
[[ "$got" == '["4", "1", "4"]' ]] || fail "the changed sink's records before the reload: $got"
expect 200 POST /minifirehoses/main/message -H 'Content-Type: application/json' -d '[{"id":5},{"id":6}]'
expect 200 POST /minifirehoses/extra/message -H 'Content-Type: application/json' -d '{"id":7}'
kill -TERM "$pid"; wait "$pid"; pid=""
got="$(duck "select count(*), count(distinct id), min(id), max(id) from read_json_auto('$work/out/keep/*.ndjson')")"
[[ "$got" == '["7", "7", "1", "7"]' ]] || fail "the unchanged sink across the reload: $got"
[[ "$(ls out/keep | wc -l)" == 1 ]] || fail "the unchanged sink wrote more than one object: $(ls out/keep)"
got="$(duck "select count(*), min(id), max(id) from read_json_auto('$work/out/change2/*.ndjson')")"
[[ "$got" == '["2", "5", "6"]' ]] || fail "the changed sink after the reload: $got"
echo "sluiced_run: SIGHUP kept the unchanged sink's open object, restarted the changed one, added a queue"
