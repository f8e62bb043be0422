#!/usr/bin/env bash
# HTTP throughput baselines for the SQS sink: requests/s of SQS SendMessageBatch POSTs (2 KiB body,
# the headers of a signed request) to nginx on 127.0.0.1 answering a fixed SendMessageBatch
# response, measured in one run by
#   wrk             wrk -t1 -c<N> -d<D>s -s bench/http/post.lua (a C load generator: the ceiling)
#   bench_sqs_http  the bare one-thread libcurl multi loop and whatever else it measures (sluice's
#                   own client, once it is added there), each with its ratio to the bare loop
# with the same body, headers and connection count. Not part of the tests (timing on a shared machine).
#
#   bash scripts/bench-http.sh [--connections N] [--duration SECONDS] [--rounds R] [--build-dir DIR] [--pin]
#
#   --connections N   concurrent connections = requests in flight (default 64)
#   --duration S      measured seconds per tool (default 5; bench_sqs_http warms up 1 s more)
#   --rounds R        rounds of all tools, one after the other (default 3); the summary gives medians,
#                     which steadies the figures on a shared machine
#   --build-dir DIR   where bench/bench_sqs_http is (default build/release; built there, configuring
#                     the release preset, when missing)
#   --pin             nginx on the last CPU, the load generators on CPU 0 (taskset)
#
# Needs nginx, wrk and curl (scripts/install-deps.sh). nginx runs from a temporary prefix with the
# config of bench/http/nginx.conf.in, on a free port, and is stopped on exit whatever happens.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
connections=64
duration=5
build_dir="$root/build/release"
pin=0
rounds=3

die() { echo "bench-http: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) connections="${2:?--connections needs a value}"; shift 2 ;;
        --duration) duration="${2:?--duration needs a value}"; shift 2 ;;
        --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
        --rounds) rounds="${2:?--rounds needs a value}"; shift 2 ;;
        --pin) pin=1; shift ;;
        -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive number"
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number"

command -v wrk >/dev/null || die "wrk is not installed (run scripts/install-deps.sh)"

bench_name=bench-http
# shellcheck source=lib/bench-nginx.sh
source "$root/scripts/lib/bench-nginx.sh"
bench="$build_dir/bench/bench_sqs_http"
bench_build_once "$build_dir" bench_sqs_http "$root"
bench_pin "$pin"
bench_nginx_prepare
prefix="$bench_nginx_prefix"
bench_nginx_start "$root/bench/http/nginx.conf.in" "${bench_server_cpu[@]}"
url="$bench_nginx_url"

# The answer the load generators will get, checked once.
answer="$(curl -sS -X POST "$url" -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: AmazonSQS.SendMessageBatch' -H 'Expect:' \
    --data-binary @"$root/bench/http/send_message_batch.json" -w '\n%{http_code} %{content_type}')"
[[ "$answer" == *'"Successful":[{"Id":"0"'* && "$answer" == *$'\n200 application/x-amz-json-1.0' ]] ||
    die "nginx's answer is not the expected SendMessageBatch response: $answer"

echo "bench-http: $connections connections, ${duration}s per tool, $rounds round(s)$([[ $pin -eq 1 ]] && echo ", pinned")"

# Each round runs wrk, then bench_sqs_http (all its measurements); the summary gives each figure's
# median over the rounds (and every round's), and the ratios of the medians.
declare -A figures=() # name -> "rate rate ..." (requests/s)
declare -A cpu_figures=() # name -> "rate rate ..." (requests per CPU-second of the client; not for wrk)
names=(wrk)
for ((round = 1; round <= rounds; round++)); do
    echo
    echo "--- round $round/$rounds: wrk -t1 -c$connections -d${duration}s -s bench/http/post.lua $url"
    wrk_out="$("${bench_client_cpu[@]}" wrk -t1 -c"$connections" -d"${duration}s" -s "$root/bench/http/post.lua" "$url" 2>&1)" ||
        { echo "$wrk_out"; die "wrk failed"; }
    echo "$wrk_out"
    if grep -q "Non-2xx" <<<"$wrk_out"; then die "wrk got answers other than 200"; fi
    figures[wrk]+=" $(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$wrk_out")"

    echo
    echo "--- round $round/$rounds: bench_sqs_http --url $url --connections $connections --duration $duration"
    bench_status=0
    bench_out="$("${bench_client_cpu[@]}" "$bench" --url "$url" --connections "$connections" --duration "$duration" --body-file "$root/bench/http/send_message_batch.json" 2>&1)" ||
        bench_status=$?
    echo "$bench_out"
    [[ "$bench_status" -eq 0 ]] || die "bench_sqs_http failed (exit $bench_status)"
    while read -r _ name rate _ cpu_rate _; do
        [[ -v "figures[$name]" ]] || names+=("$name")
        figures[$name]+=" $rate"
        cpu_figures[$name]+=" $cpu_rate"
    done < <(grep '^result ' <<<"$bench_out")
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo
echo "=== HTTP baselines: 2 KiB SendMessageBatch POSTs to nginx on 127.0.0.1, $connections connections (median of $rounds) ==="
wrk_median="$(median "${figures[wrk]}")"
baseline="$(median "${figures[bare_libcurl]:-0}")"
cpu_baseline="$(median "${cpu_figures[bare_libcurl]:-0}")"
for name in "${names[@]}"; do
    m="$(median "${figures[$name]}")"
    case "$name" in
        wrk) note="" ;;
        bare_libcurl) note="$(awk -v a="$m" -v b="$wrk_median" 'BEGIN { printf "%.2f of wrk", (b > 0 ? a / b : 0) }')" ;;
        *) note="$(awk -v a="$m" -v b="$baseline" 'BEGIN { printf "%.2f of bare_libcurl", (b > 0 ? a / b : 0) }')" ;;
    esac
    printf '  %-20s %10.0f req/s   %-22s rounds:%s\n' "$name" "$m" "$note" \
        "$(for v in ${figures[$name]}; do printf ' %.0f' "$v"; done)"
done
echo "  per CPU-second of the client (what one whole core would give; steadier on a busy machine):"
epoll_cpu="$(median "${cpu_figures[bare_libcurl_epoll]:-0}")"
for name in "${names[@]}"; do
    [[ "$name" != wrk ]] || continue
    m="$(median "${cpu_figures[$name]}")"
    note="$(awk -v a="$m" -v b="$cpu_baseline" -v c="$epoll_cpu" 'BEGIN { printf "%.2f of bare_libcurl, %.2f of bare_libcurl_epoll", (b > 0 ? a / b : 0), (c > 0 ? a / c : 0) }')"
    [[ "$name" != bare_libcurl ]] || note=""
    printf '  %-20s %10.0f req/CPU-s %-46s rounds:%s\n' "$name" "$m" "$note" \
        "$(for v in ${cpu_figures[$name]}; do printf ' %.0f' "$v"; done)"
done
