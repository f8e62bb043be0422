#!/usr/bin/env bash
# Runs examples/pyvector against fauxqs (SQS), s3rver (S3) and the _bulk fixture (OpenSearch), as a
# user would point it at their services, and counts every event by id at each destination with the
# destination's own API: SQS ReceiveMessage until the queue is empty, S3 ListObjectsV2 + GetObject
# (signed by curl), the fixture's stored documents.
#
#   tests/pyvector_example.sh <pyvector> <fauxqs endpoint file> <s3rver endpoint file> <bulk fixture endpoint file> <work dir> [count]
#
# With SLUICED=<sluiced binary> in the environment, the same events go through sluiced instead: NDJSON on
# its standard input, a queue broadcasting to an sqs, an s3 and an opensearch sink of its configuration
# file; the destinations are checked the same way.
set -euo pipefail
binary="$1"
sqs_endpoint="$(cat "$2")"
s3_endpoint="$(cat "$3")"
bulk_endpoint="$(cat "$4")"
work="$5"
count="${6:-20000}"
fail() { echo "pyvector_example: FAILED: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
suffix="$$-$RANDOM"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_SQS="$sqs_endpoint" AWS_ENDPOINT_URL_S3="$s3_endpoint"
unset AWS_ENDPOINT_URL AWS_PROFILE AWS_SESSION_TOKEN || true

sqs() { # sqs Action JSON: fauxqs does not check signatures; the header names the service
    curl -sS --fail-with-body -X POST "$sqs_endpoint/" -H 'Expect:' -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$1" -H 'X-Amz-Date: 20260101T000000Z' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0' \
        --data-binary "$2"
}
queue_url="$(sqs CreateQueue "{\"QueueName\":\"pyvector-$suffix\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["QueueUrl"])')"
curl -sS -f -X POST "$bulk_endpoint/_fixture/reset" > /dev/null || fail "cannot reset the _bulk fixture"

if [[ -z "${SLUICED:-}" ]]; then
    "$binary" --count "$count" --sqs-queue-url "$queue_url" --s3-bucket sluice-test --s3-prefix "pyvector-$suffix/" \
        --opensearch "$bulk_endpoint" --index "pyvector-$suffix" --state-dir "$work/state" | tee "$work/out.txt"
    grep -q "^pyvector: $count of $count events taken by all three destinations" "$work/out.txt" || fail "not every event was taken"
else
    cat > "$work/sluiced.toml" <<EOF
[sources.in]
type = "stdin"
[queues.events]
[[queues.events.routes]]
by = "broadcast"
sinks = ["sqs", "s3", "search"]
[sinks.sqs]
type = "sqs"
queue_url = "$queue_url"
endpoint = "$sqs_endpoint"
[sinks.s3]
type = "s3"
bucket = "sluice-test"
prefix = "pyvector-$suffix/"
endpoint = "$s3_endpoint"
[sinks.s3.batch]
max_events = 5000
[sinks.search]
type = "opensearch"
endpoint = "$bulk_endpoint"
index = "pyvector-$suffix"
id_field = "event_id"
EOF
    python3 -c 'import sys
for i in range(1, int(sys.argv[1]) + 1):
    print("{\"event_id\":%d,\"service\":\"checkout\",\"message\":\"order %d shipped\"}" % (i, i))' "$count" > "$work/events.ndjson"
    "$SLUICED" --config "$work/sluiced.toml" --state-dir "$work/state" < "$work/events.ndjson" 2> "$work/sluiced.log" ||
        { cat "$work/sluiced.log" >&2; fail "sluiced exited $?"; }
    if grep -q " warn \| error " "$work/sluiced.log"; then cat "$work/sluiced.log" >&2; fail "sluiced logged a warning or an error"; fi
fi

# SQS: receive until empty, every id once.
python3 - "$sqs_endpoint" "$queue_url" "$count" <<'EOF' || fail "SQS does not hold every event once"
import json, sys, urllib.request
endpoint, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(action, body):
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS." + action, "X-Amz-Date": "20260101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"})
    return json.load(urllib.request.urlopen(req))
seen, empty = {}, 0
while empty < 3:
    msgs = call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}).get("Messages", [])
    empty = empty + 1 if not msgs else 0
    for m in msgs:
        i = json.loads(m["Body"])["event_id"]
        seen[i] = seen.get(i, 0) + 1
ids = sorted(seen)
ok = len(ids) == count and ids[0] == 1 and ids[-1] == count and all(v == 1 for v in seen.values())
print(f"pyvector_example: SQS holds {len(ids)} distinct events, {sum(seen.values())} messages")
sys.exit(0 if ok else 1)
EOF

# S3: every object under the prefix, every line an event, every id once.
sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:S3RVER" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -sS -f "${sign[@]}" "$s3_endpoint/sluice-test?list-type=2&prefix=pyvector-$suffix/&max-keys=1000" > "$work/list.xml" ||
    fail "ListObjectsV2 failed"
python3 -c '
import re, sys
keys = re.findall(r"<Key>([^<]+)</Key>", open(sys.argv[1]).read())
open(sys.argv[2], "w").write("\n".join(keys) + "\n")' "$work/list.xml" "$work/keys.txt"
: > "$work/s3.ndjson"
while read -r key; do
    [[ -n "$key" ]] || continue
    curl -sS -f "${sign[@]}" "$s3_endpoint/sluice-test/$key" >> "$work/s3.ndjson" || fail "GetObject $key failed"
done < "$work/keys.txt"
python3 - "$work/s3.ndjson" "$count" <<'EOF' || fail "S3 does not hold every event once"
import json, sys
ids = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if l.strip()]
count = int(sys.argv[2])
print(f"pyvector_example: S3 holds {len(ids)} events in objects, {len(set(ids))} distinct")
sys.exit(0 if len(ids) == count and sorted(ids) == list(range(1, count + 1)) else 1)
EOF

# OpenSearch: the fixture's documents of the index, by _id.
curl -sS -f "$bulk_endpoint/_fixture/state" > "$work/bulk.json" || fail "cannot read the _bulk fixture's state"
python3 - "$work/bulk.json" "pyvector-$suffix" "$count" <<'EOF' || fail "the _bulk fixture does not hold every event"
import json, sys
docs = json.load(open(sys.argv[1]))["documents"].get(sys.argv[2], {})
count = int(sys.argv[3])
ok = sorted(int(k) for k in docs) == list(range(1, count + 1)) and all(int(k) == d["event_id"] for k, d in docs.items())
print(f"pyvector_example: the index holds {len(docs)} documents")
sys.exit(0 if ok else 1)
EOF
sqs DeleteQueue "{\"QueueUrl\":\"$queue_url\"}" > /dev/null
echo "pyvector_example: every one of $count events at SQS, S3 and OpenSearch, once"
