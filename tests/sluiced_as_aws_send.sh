#!/usr/bin/env bash
# examples/aws_send's command line, carried out by sluiced: writes a configuration with one sink of the
# service, feeds sluiced `--count` records of about `--size` bytes on its standard input (the same
# documents aws_send sends: {"seq":N,...}, CloudWatch data whose value is N, DynamoDB items keyed
# "aws-send-N"), and exits 0 only when sluiced drained and took every record (it logs every record it
# could not deliver, so any warning or error is a failure). tests/aws_send_example.sh runs it in place
# of aws_send (SLUICED=<sluiced>), so every AWS sink of sluiced is checked against the same emulators and
# fixture with the same read-back, oversize and missing-stream checks.
#
#   SLUICED=<sluiced> tests/sluiced_as_aws_send.sh --service sqs|kinesis|firehose|dynamodb|cloudwatch|logs ...
set -euo pipefail
sluiced="${SLUICED:?SLUICED must name the sluiced binary}"
declare -A a=([size]=256 [metric]=aws_send)
flags=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --newline | --aggregate | --create) flags+=("${1#--}"); shift ;;
        --*) a[${1#--}]="$2"; shift 2 ;;
        *) echo "sluiced_as_aws_send: unexpected argument $1" >&2; exit 2 ;;
    esac
done
has() { [[ " ${flags[*]:-} " == *" $1 "* ]]; }
tf() { has "$1" && echo true || echo false; }
work="$(mktemp -d "${TMPDIR:-/tmp}/sluiced-aws.XXXXXX")"
trap 'rm -rf "$work"' EXIT

sink=""
case "${a[service]}" in
    sqs) sink="type = \"sqs\"
queue_url = \"${a[queue-url]}\"
drop_duplicates = false" ;;
    # aws_send itself sends JSON: between them both protocols meet the emulator. kinesalite's CBOR
    # encoder cuts answers at 16 KiB (about 150 records), so requests of 100.
    kinesis) sink="type = \"kinesis\"
stream_name = \"${a[stream]}\"
protocol = \"cbor\"
[sinks.out.batch]
max_events = 100" ;;
    firehose) sink="type = \"firehose\"
delivery_stream = \"${a[delivery-stream]}\"
newline = $(tf newline)
aggregate = $(tf aggregate)" ;;
    dynamodb) sink="type = \"dynamodb\"
table = \"${a[table]}\"
partition_key = \"${a[partition-key-name]}\"" ;;
    cloudwatch) sink="type = \"cloudwatch\"
namespace = \"${a[namespace]}\"" ;;
    logs) sink="type = \"cloudwatch_logs\"
log_group = \"${a[log-group]}\"
log_stream = \"${a[log-stream]}\"
create_missing = $(tf create)" ;;
    *) echo "sluiced_as_aws_send: unknown service ${a[service]}" >&2; exit 2 ;;
esac
cat >"$work/sluiced.toml" <<EOF
[sources.in]
type = "stdin"
[queues.main]
[[queues.main.routes]]
by = "broadcast"
sinks = ["out"]
[sinks.out]
$sink
[sinks.out.retry]
max_attempts = 3
EOF

# The records, as aws_send makes them (make_body: a sequence number, then padding to --size).
python3 - "${a[service]}" "${a[count]}" "${a[size]}" "${a[partition-key-name]:-id}" "${a[metric]}" >"$work/in.ndjson" <<'EOF'
import json, sys
service, count, size, key, metric = sys.argv[1], int(sys.argv[2]), max(32, int(sys.argv[3])), sys.argv[4], sys.argv[5]
for n in range(count):
    body = '{"seq":%d,"source":"aws_send","pad":"' % n
    pad = "".join(chr(ord("a") + (len(body) + i) % 26) for i in range(max(0, size - len(body) - 2)))
    body += pad + '"}'
    if service == "cloudwatch":
        body = json.dumps({"name": metric, "value": n, "unit": "Count", "dimensions": {"source": "aws_send"}})
    elif service == "dynamodb":
        body = '{"%s":"aws-send-%d",' % (key, n) + body[1:]
    print(body)
EOF
echo "sluiced_as_aws_send: ${a[count]} records of ~${a[size]} bytes to ${a[service]} through sluiced"
status=0
"$sluiced" --config "$work/sluiced.toml" --state-dir "$work/state" --grace 60 <"$work/in.ndjson" 2>"$work/log" || status=$?
if [[ $status -ne 0 ]] || grep -q ' warn \| error ' "$work/log"; then
    head -5 "$work/log" >&2
    echo "sluiced_as_aws_send: not every record was delivered (exit $status)" >&2
    exit 1
fi
