#!/usr/bin/env bash
# The whole Kinesis path per record (bench/bench_kinesis_path.cpp): records through kinesis_dispatcher
# into nginx on 127.0.0.1 answering a fixed all-success PutRecords response for 500 records, over plain
# HTTP and over TLS (a throwaway certificate, verified), in JSON and in CBOR (kinesis_options::protocol),
# then each stage alone in the same run. Not part of the tests (timing on a shared machine).
#
#   bash scripts/bench-kinesis.sh [--records N] [--in-flight K] [--build-dir DIR] [--pin]
#                                 [--only path-http|path-https|path-http-cbor|path-https-cbor|http|https]
#                                 [--perf OUTPUT]
#   --only runs one part; --perf records it with perf (cpu-clock samples, call graphs) into OUTPUT.
#
# Needs nginx, openssl and curl (scripts/install-deps.sh). nginx runs from a temporary prefix with the
# config of bench/http/nginx-kinesis.conf.in and is stopped on exit whatever happens.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$root/build/release"
records=1000000
in_flight=8
pin=0
only=()
perf=()

die() { echo "bench-kinesis: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --records) records="${2:?--records needs a value}"; shift 2 ;;
        --in-flight) in_flight="${2:?--in-flight needs a value}"; shift 2 ;;
        --only) only=(--only "${2:?--only needs a value}"); shift 2 ;;
        --perf) perf=(perf record -e cpu-clock -F 2000 -g -o "${2:?--perf needs an output file}"); shift 2 ;;
        --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
        --pin) pin=1; shift ;;
        -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

bench_name=bench-kinesis
# shellcheck source=lib/bench-nginx.sh
source "$root/scripts/lib/bench-nginx.sh"

bench="$build_dir/bench/bench_kinesis_path"
bench_build_once "$build_dir" bench_kinesis_path "$root"
bench_pin "$pin"

bench_nginx_prepare
prefix="$bench_nginx_prefix"

bench_nginx_put_records_answer "$prefix/put_records.json"
bench_nginx_put_records_cbor_answer "$prefix/put_records.cbor"
bench_nginx_start "$root/bench/http/nginx-kinesis.conf.in" "${bench_server_cpu[@]}"
url="$bench_nginx_url"
tls_url="$bench_nginx_tls_url"
answer="$(curl -sS --cacert "$prefix/cert.pem" -X POST -H 'Expect:' --data-binary 'x' "$tls_url")"
[[ "$answer" == '{"FailedRecordCount":0,"Records":[{"SequenceNumber"'* ]] || die "nginx's answer over TLS is not the PutRecords response"
curl -sS --cacert "$prefix/cert.pem" -X POST -H 'Expect:' --data-binary 'x' -o "$prefix/cbor.answer" "${tls_url}cbor"
cbor_head="$(od -An -tx1 -N19 "$prefix/cbor.answer" | tr -d ' \n')"
[[ "$cbor_head" == "a3714661696c65645265636f7264436f756e74" ]] || die "nginx's answer under /cbor is not the CBOR PutRecords response ($cbor_head)"

"${bench_client_cpu[@]}" "${perf[@]}" "$bench" "${only[@]}" --url "$url" --tls-url "$tls_url" --ca-file "$prefix/cert.pem" \
    --records "$records" --in-flight "$in_flight" --cbor
