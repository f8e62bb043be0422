#!/usr/bin/env bash
# Runs examples/aws_send against an emulator the way the README tells a new user to: create a queue or
# stream, point AWS_ENDPOINT_URL at the endpoint, give any credentials and a region, send.
#
#   tests/aws_send_example.sh <aws_send binary> sqs|kinesis|dynamodb|firehose|cloudwatch|logs <endpoint file>
#
# Checks the exit status, that every record can be counted back, and that an oversize record makes it
# fail. SQS, Kinesis and DynamoDB run against emulators; Firehose, CloudWatch and CloudWatch Logs against
# tests/support/aws_fixture.cpp (docs/aws-fixtures.md), whose /fixture/stats counts what it accepted.
set -euo pipefail
binary="$1"
service="$2"
endpoint="$(cat "$3")"

suffix="$$-$RANDOM"
export AWS_ACCESS_KEY_ID=sluice-example AWS_SECRET_ACCESS_KEY=sluice-example-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="$endpoint"
unset AWS_PROFILE AWS_SESSION_TOKEN || true

# call <target prefix> <content type> <Action> <json>: prints the response body (emulators do not check
# signatures; the Authorization header only names the service).
call() {
    curl -sS --fail-with-body -X POST "$endpoint/" -H 'Expect:' -H "Content-Type: $2" -H "X-Amz-Target: $1.$3" \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/$service/aws4_request, SignedHeaders=host, Signature=0" \
        -H 'X-Amz-Date: 20260101T000000Z' --data-binary "$4"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

run_sqs() {
    sqs() { call AmazonSQS application/x-amz-json-1.0 "$@"; }
    count_messages() { # how many messages the queue holds (visible, in flight or delayed)
        sqs GetQueueAttributes "{\"QueueUrl\":\"$1\",\"AttributeNames\":[\"All\"]}" | python3 -c 'import json,sys
a=json.load(sys.stdin)["Attributes"]
print(sum(int(a.get(k,0)) for k in ("ApproximateNumberOfMessages","ApproximateNumberOfMessagesNotVisible","ApproximateNumberOfMessagesDelayed")))'
    }
    local standard fifo got
    standard="$(sqs CreateQueue "{\"QueueName\":\"aws-send-$suffix\"}" | json_field QueueUrl)"
    "$binary" --service sqs --queue-url "$standard" --count 2500 --size 700
    got="$(count_messages "$standard")"
    [[ "$got" -eq 2500 ]] || { echo "standard queue holds $got messages, expected 2500" >&2; exit 1; }

    fifo="$(sqs CreateQueue "{\"QueueName\":\"aws-send-$suffix.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}" | json_field QueueUrl)"
    "$binary" --service sqs --queue-url "$fifo" --count 300 --fifo-group example
    got="$(count_messages "$fifo")"
    [[ "$got" -eq 300 ]] || { echo "FIFO queue holds $got messages, expected 300" >&2; exit 1; }

    # Messages over SQS's size limit are refused before sending: non-zero exit.
    if "$binary" --service sqs --queue-url "$standard" --count 2 --size 1100000 2>/dev/null; then
        echo "oversize messages were reported as accepted" >&2
        exit 1
    fi
    sqs DeleteQueue "{\"QueueUrl\":\"$standard\"}" >/dev/null
    sqs DeleteQueue "{\"QueueUrl\":\"$fifo\"}" >/dev/null
}

run_kinesis() {
    kinesis() { call Kinesis_20131202 application/x-amz-json-1.1 "$@"; }
    local stream="aws-send-$suffix" got i
    kinesis CreateStream "{\"StreamName\":\"$stream\",\"ShardCount\":3}" >/dev/null
    for ((i = 0; i < 100; i++)); do
        kinesis DescribeStreamSummary "{\"StreamName\":\"$stream\"}" | grep -q '"StreamStatus":"ACTIVE"' && break
        sleep 0.1
    done
    "$binary" --service kinesis --stream "$stream" --count 3000 --size 300
    # Every record of every shard, counted by its sequence number in the data.
    got="$(STREAM="$stream" python3 - <<'PY'
import base64, json, os, urllib.request
endpoint, stream = os.environ["AWS_ENDPOINT_URL"], os.environ["STREAM"]
def call(action, body):
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202." + action,
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        "X-Amz-Date": "20260101T000000Z"})
    return json.load(urllib.request.urlopen(req, timeout=10))
seen = set()
for shard in call("ListShards", {"StreamName": stream})["Shards"]:
    it = call("GetShardIterator", {"StreamName": stream, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
    while it:
        r = call("GetRecords", {"ShardIterator": it, "Limit": 10000})
        for rec in r["Records"]:
            # kinesalite keeps records written in CBOR (sluiced's run) as the Buffer it decoded and
            # answers them as {"type":"Buffer","data":[bytes]}: AWS and kinesis-local answer base64.
            data = rec["Data"]
            raw = bytes(data["data"]) if isinstance(data, dict) and data.get("type") == "Buffer" else base64.b64decode(data)
            seen.add(json.loads(raw)["seq"])
        if not r["Records"]:
            break
        it = r.get("NextShardIterator")
print(len(seen))
PY
)"
    [[ "$got" -eq 3000 ]] || { echo "stream holds $got distinct records, expected 3000" >&2; exit 1; }
    # A record over Kinesis's 1 MiB limit is refused before sending: non-zero exit.
    if "$binary" --service kinesis --stream "$stream" --count 1 --size 1100000 2>/dev/null; then
        echo "an oversize record was reported as accepted" >&2
        exit 1
    fi
    kinesis DeleteStream "{\"StreamName\":\"$stream\"}" >/dev/null
}

run_dynamodb() {
    dynamodb() { call DynamoDB_20120810 application/x-amz-json-1.0 "$@"; }
    local table="aws-send-$suffix" got
    dynamodb CreateTable "{\"TableName\":\"$table\",\"BillingMode\":\"PAY_PER_REQUEST\",
        \"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],
        \"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}]}" >/dev/null
    "$binary" --service dynamodb --table "$table" --partition-key-name id --count 2000 --size 300
    # Every item, counted by its sequence number (Scan, page by page).
    got="$(TABLE="$table" python3 - <<'PY'
import json, os, urllib.request
endpoint, table = os.environ["AWS_ENDPOINT_URL"], os.environ["TABLE"]
def call(action, body):
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + action,
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        "X-Amz-Date": "20260101T000000Z"})
    return json.load(urllib.request.urlopen(req, timeout=10))
seen, start = set(), None
while True:
    body = {"TableName": table}
    if start: body["ExclusiveStartKey"] = start
    r = call("Scan", body)
    for item in r["Items"]:
        seen.add(int(item["seq"]["N"]))
    start = r.get("LastEvaluatedKey")
    if not start: break
print(len(seen))
PY
)"
    [[ "$got" -eq 2000 ]] || { echo "table holds $got distinct items, expected 2000" >&2; exit 1; }
    # An item over DynamoDB's 400 KB is refused before sending: non-zero exit.
    if "$binary" --service dynamodb --table "$table" --partition-key-name id --count 1 --size 500000 2>/dev/null; then
        echo "an oversize item was reported as accepted" >&2
        exit 1
    fi
    dynamodb DeleteTable "{\"TableName\":\"$table\"}" >/dev/null
}

# fixture_stat <service> <field>: what the fixture counted so far.
fixture_stat() {
    curl -sS --fail "$endpoint/fixture/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}

# expect_delta <service> <records before> <added>: the fixture took `added` more, and no request broke a limit.
expect_delta() {
    local now violations
    now="$(fixture_stat "$1" records)"
    violations="$(fixture_stat "$1" violations)"
    [[ "$now" -eq $(($2 + $3)) ]] || { echo "$1: the fixture holds $now records, expected $(($2 + $3))" >&2; exit 1; }
    [[ "$violations" -eq 0 ]] || { echo "$1: $violations requests broke the API's limits" >&2; exit 1; }
}

run_firehose() {
    local before
    before="$(fixture_stat firehose records)"
    "$binary" --service firehose --delivery-stream "aws-send-$suffix" --count 3000 --size 300
    expect_delta firehose "$before" 3000
    before="$(fixture_stat firehose records)"
    "$binary" --service firehose --delivery-stream "aws-send-$suffix" --newline --aggregate --count 20000 --size 200
    expect_delta firehose "$before" 20000
    [[ "$(fixture_stat firehose ids)" -ge 20000 ]] || { echo "firehose: records are missing by sequence number" >&2; exit 1; }
    if "$binary" --service firehose --delivery-stream "aws-send-$suffix" --count 1 --size 1100000 2>/dev/null; then
        echo "an oversize record was reported as accepted" >&2
        exit 1
    fi
}

run_cloudwatch() {
    local before
    before="$(fixture_stat cloudwatch records)"
    "$binary" --service cloudwatch --namespace "aws-send/$suffix" --count 2500
    expect_delta cloudwatch "$before" 2500
    [[ "$(fixture_stat cloudwatch ids)" -ge 2500 ]] || { echo "cloudwatch: data are missing by value" >&2; exit 1; }
    if "$binary" --service cloudwatch --namespace "AWS/reserved" --count 1 2>/dev/null; then
        echo "a reserved namespace was accepted" >&2
        exit 1
    fi
}

run_logs() {
    local before
    before="$(fixture_stat logs records)"
    "$binary" --service logs --log-group aws-send --log-stream "run-$suffix" --create --count 20000 --size 200
    expect_delta logs "$before" 20000
    [[ "$(fixture_stat logs ids)" -ge 20000 ]] || { echo "logs: events are missing by sequence number" >&2; exit 1; }
    # Without --create, a stream that does not exist refuses the events: non-zero exit.
    if "$binary" --service logs --log-group aws-send --log-stream "missing-$suffix" --count 5 2>/dev/null; then
        echo "events to a missing stream were reported as accepted" >&2
        exit 1
    fi
}

case "$service" in
    sqs) run_sqs ;;
    kinesis) run_kinesis ;;
    dynamodb) run_dynamodb ;;
    firehose) run_firehose ;;
    cloudwatch) run_cloudwatch ;;
    logs) run_logs ;;
    *) echo "usage: $0 <aws_send> sqs|kinesis|dynamodb|firehose|cloudwatch|logs <endpoint file>" >&2; exit 2 ;;
esac
echo "aws_send example ($service): OK"
