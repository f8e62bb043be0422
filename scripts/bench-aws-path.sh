#!/usr/bin/env bash
# The whole path per record of each AWS batch service (bench/bench_aws_path.cpp): records through the
# service's batch_dispatcher into nginx on 127.0.0.1 answering each operation with a fixed all-success
# response (bench/http/nginx-aws.conf.in), Kinesis first as the reference. Not part of the tests
# (timing on a shared machine).
#
#   bash scripts/bench-aws-path.sh [--records N] [--in-flight K] [--service NAME] [--build-dir DIR] [--pin]
#
# Needs nginx, openssl and curl (scripts/install-deps.sh); nginx is stopped on exit whatever happens.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$root/build/release"
args=()
pin=0

die() { echo "bench-aws-path: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --records | --in-flight | --service) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
        --pin) pin=1; shift ;;
        -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

bench_name=bench-aws-path
# shellcheck source=lib/bench-nginx.sh
source "$root/scripts/lib/bench-nginx.sh"

bench="$build_dir/bench/bench_aws_path"
bench_build_once "$build_dir" bench_aws_path "$root"
bench_pin "$pin"

bench_nginx_prepare
prefix="$bench_nginx_prefix"
# One answer per operation: all records accepted.
bench_nginx_put_records_answer "$prefix/put_records.json"
bench_nginx_answer "$prefix/put_record_batch.json" '{"Encrypted":false,"FailedPutCount":0,"RequestResponses":[' \
    '{"RecordId":"bench-record-%04d"}' ']}'
printf '{"UnprocessedItems":{}}' >"$prefix/batch_write_item.json"
printf '{"nextSequenceToken":"49612345678901234567890123456789012345678901234567890"}' >"$prefix/put_log_events.json"
printf '{}' >"$prefix/empty.json"
chmod 644 "$prefix"/*.json
bench_nginx_start "$root/bench/http/nginx-aws.conf.in" "${bench_server_cpu[@]}"
answer="$(curl -sS -X POST -H 'X-Amz-Target: DynamoDB_20120810.BatchWriteItem' --data-binary 'x' "$bench_nginx_url")"
[[ "$answer" == '{"UnprocessedItems":{}}' ]] || die "nginx does not answer by X-Amz-Target (got: ${answer:0:80})"

"${bench_client_cpu[@]}" "$bench" --url "$bench_nginx_url" "${args[@]}"
