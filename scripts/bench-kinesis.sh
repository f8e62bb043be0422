#!/usr/bin/env bash
# The whole Kinesis path per record (bench/bench_kinesis_path.cpp): records through kinesis_dispatcher
# into nginx on 127.0.0.1 answering a fixed all-success PutRecords response for 500 records, over plain
# HTTP and over TLS (a throwaway certificate, verified), then each stage alone in the same run. Not
# part of the tests (timing on a shared machine).
#
#   bash scripts/bench-kinesis.sh [--records N] [--in-flight K] [--build-dir DIR] [--pin]
#                                 [--only path-http|path-https|http|https] [--perf OUTPUT]
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

nginx_bin="$(command -v nginx || true)"
[[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
[[ -x "$nginx_bin" ]] || die "nginx is not installed (run scripts/install-deps.sh)"
command -v openssl >/dev/null || die "openssl is not installed (run scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"

bench="$build_dir/bench/bench_kinesis_path"
if [[ ! -x "$bench" ]]; then
    echo "bench-kinesis: building bench_kinesis_path in $build_dir"
    if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
        [[ "$build_dir" == "$root/build/release" ]] || die "$build_dir is not a configured build directory"
        (cd "$root" && cmake --preset release >/dev/null)
    fi
    cmake --build "$build_dir" --target bench_kinesis_path
fi

client_cpu=()
server_cpu=()
if [[ "$pin" -eq 1 ]]; then
    last=$(($(nproc) - 1))
    [[ "$last" -ge 1 ]] || die "--pin needs at least two CPUs"
    client_cpu=(taskset -c 0)
    server_cpu=(taskset -c "$last")
fi

prefix="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-kinesis.XXXXXX")"
nginx_pid=""
cleanup() {
    if [[ -n "$nginx_pid" ]] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$nginx_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$prefix" # nginx's worker runs as nobody when started by root

# The fixed answer: 500 records, all accepted.
{
    printf '{"FailedRecordCount":0,"Records":['
    for ((i = 0; i < 500; i++)); do
        [[ $i -eq 0 ]] || printf ','
        printf '{"SequenceNumber":"4968086987916858614704477159885838446691886386479366%04d","ShardId":"shardId-000000000000"}' "$i"
    done
    printf '],"EncryptionType":"NONE"}'
} >"$prefix/put_records.json"
chmod 644 "$prefix/put_records.json"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$prefix/key.pem" -out "$prefix/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
chmod 644 "$prefix/key.pem" "$prefix/cert.pem"

url=""
for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    tls_port=$((port + 1))
    sed -e "s|@PORT@|$port|g" -e "s|@TLS_PORT@|$tls_port|g" -e "s|@PREFIX@|$prefix|g" \
        "$root/bench/http/nginx-kinesis.conf.in" >"$prefix/nginx.conf"
    : >"$prefix/error.log"
    "${server_cpu[@]}" "$nginx_bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" \
        </dev/null >"$prefix/nginx.out" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 50); do
        kill -0 "$nginx_pid" 2>/dev/null || break
        if curl -sf -o /dev/null --max-time 1 -X POST -d x "http://127.0.0.1:$port/"; then
            url="http://127.0.0.1:$port/"
            break 2
        fi
        sleep 0.1
    done
    kill -0 "$nginx_pid" 2>/dev/null && { cat "$prefix/error.log" >&2; die "nginx runs but does not answer on $port"; }
    grep -q "Address already in use" "$prefix/error.log" "$prefix/nginx.out" || { cat "$prefix/error.log" >&2; die "nginx did not start"; }
done
[[ -n "$url" ]] || die "no free port found for nginx"
tls_url="https://127.0.0.1:$tls_port/"
answer="$(curl -sS --cacert "$prefix/cert.pem" -X POST -H 'Expect:' --data-binary 'x' "$tls_url")"
[[ "$answer" == '{"FailedRecordCount":0,"Records":[{"SequenceNumber"'* ]] || die "nginx's answer over TLS is not the PutRecords response"

echo "bench-kinesis: nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') on $url and $tls_url (1 worker)"
"${client_cpu[@]}" "${perf[@]}" "$bench" "${only[@]}" --url "$url" --tls-url "$tls_url" --ca-file "$prefix/cert.pem" \
    --records "$records" --in-flight "$in_flight"
