#!/usr/bin/env bash
# Runs examples/sqs_send against the SQS emulator the way the README tells a new user to: create a
# queue, point AWS_ENDPOINT_URL at the endpoint, give any credentials and a region, send.
#
#   tests/sqs_send_example.sh <sqs_send binary> <endpoint file>
#
# Checks the exit status, that every message can be read back, and that a bad message makes it fail.
set -euo pipefail
binary="$1"
endpoint="$(cat "$2")"

sqs() { # sqs <Action> <json>: prints the response body
    curl -sS --fail-with-body -X POST "$endpoint/" -H 'Expect:' -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$1" --data-binary "$2"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
count_messages() { # how many messages the queue holds (visible, in flight or delayed)
    sqs GetQueueAttributes "{\"QueueUrl\":\"$1\",\"AttributeNames\":[\"All\"]}" | python3 -c 'import json,sys
a=json.load(sys.stdin)["Attributes"]
print(sum(int(a.get(k,0)) for k in ("ApproximateNumberOfMessages","ApproximateNumberOfMessagesNotVisible","ApproximateNumberOfMessagesDelayed")))'
}

suffix="$$-$RANDOM"
export AWS_ACCESS_KEY_ID=sluice-example AWS_SECRET_ACCESS_KEY=sluice-example-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="$endpoint"
unset AWS_PROFILE AWS_SESSION_TOKEN || true

standard="$(sqs CreateQueue "{\"QueueName\":\"sqs-send-$suffix\"}" | json_field QueueUrl)"
"$binary" --queue-url "$standard" --count 2500 --size 700
got="$(count_messages "$standard")"
[[ "$got" -eq 2500 ]] || { echo "standard queue holds $got messages, expected 2500" >&2; exit 1; }

fifo="$(sqs CreateQueue "{\"QueueName\":\"sqs-send-$suffix.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}" | json_field QueueUrl)"
"$binary" --queue-url "$fifo" --count 300 --fifo-group example
got="$(count_messages "$fifo")"
[[ "$got" -eq 300 ]] || { echo "FIFO queue holds $got messages, expected 300" >&2; exit 1; }

# Messages over SQS's size limit are refused before sending: non-zero exit.
if "$binary" --queue-url "$standard" --count 2 --size 1100000 2>/dev/null; then
    echo "oversize messages were reported as accepted" >&2
    exit 1
fi
sqs DeleteQueue "{\"QueueUrl\":\"$standard\"}" >/dev/null
sqs DeleteQueue "{\"QueueUrl\":\"$fifo\"}" >/dev/null
echo "sqs_send example: OK"
