#!/usr/bin/env bash
# Load test of sluice's HTTP server next to nginx, in one run on this machine: wrk on loopback sends
# MiniFirehose message POSTs (bench/http/message.lua: a ~200-byte JSON object to
# /minifirehoses/bench/message) to
#   sluice   bench/bench_http_server: http::server + router + simdjson parsing the body, 202 {"accepted":1},
#            one io_loop thread
#   nginx    one worker answering the same 202 {"accepted":1} from its config, without parsing anything
#            (bench/http/nginx-message.conf.in)
#   sluiced  (with --sluiced) the service itself: the MiniFirehose API with a firehose "bench" writing
#            NDJSON files; each request is answered once its message is in the firehose's journal
#            (synced: it survives kill -9), 200 {"accepted":1,...}; every message is counted in the
#            files afterwards
# and prints requests/s and p99 latency (wrk --latency) for each, and the ratios to nginx.
# Not part of the tests (timing on a shared machine).
#
#   bash scripts/bench-http-server.sh [--connections N] [--duration SECONDS] [--rounds R] [--build-dir DIR] [--pin]
#
#   --connections N   concurrent keep-alive connections (default 64)
#   --duration S      measured seconds per server and round (default 5)
#   --rounds R        rounds (default 3), the two servers alternating first; the summary gives medians
#   --build-dir DIR   where bench/bench_http_server is (default build/release; built there, configuring
#                     the release preset, when missing)
#   --pin             the servers on the last CPU, wrk on CPU 0 (taskset)
#   --sluiced         also load sluiced (built in the same build directory)
#
# Needs nginx, wrk and curl (scripts/install-deps.sh). Both servers run on free ports of 127.0.0.1
# and are stopped on exit whatever happens.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
connections=64
duration=5
rounds=3
build_dir="$root/build/release"
pin=0
with_sluiced=0

die() { echo "bench-http-server: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) connections="${2:?--connections needs a value}"; shift 2 ;;
        --duration) duration="${2:?--duration needs a value}"; shift 2 ;;
        --rounds) rounds="${2:?--rounds needs a value}"; shift 2 ;;
        --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
        --pin) pin=1; shift ;;
        --sluiced) with_sluiced=1; shift ;;
        -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive number"
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number"

command -v wrk >/dev/null || die "wrk is not installed (run scripts/install-deps.sh)"

bench_name=bench-http-server
# shellcheck source=lib/bench-nginx.sh
source "$root/scripts/lib/bench-nginx.sh"
bench="$build_dir/bench/bench_http_server"
bench_build_once "$build_dir" bench_http_server "$root"
sluiced="$build_dir/tools/sluiced/sluiced"
if [[ "$with_sluiced" -eq 1 && ! -x "$sluiced" ]]; then
    echo "bench-http-server: building sluiced in $build_dir"
    cmake --build "$build_dir" --target sluiced
fi

bench_pin "$pin"

sluice_pid=""
sluiced_pid=""
cleanup() {
    bench_stop_pid "$sluice_pid" TERM
    bench_stop_pid "$sluiced_pid" TERM
    bench_nginx_cleanup
}
bench_nginx_prepare
trap cleanup EXIT
prefix="$bench_nginx_prefix"

path=/minifirehoses/bench/message
body='{"message":"check","tenant":"acme"}'

# nginx, asked for the message route to know it answers.
bench_nginx_probe_path="$path"
bench_nginx_probe_args=(-H 'Content-Type: application/json' -d "$body")
bench_nginx_start "$root/bench/http/nginx-message.conf.in" "${bench_server_cpu[@]}"
nginx_url="${bench_nginx_url%/}"
nginx_pid="$bench_nginx_pid"

# sluice's server on an ephemeral port; it prints "listening URL".
"${bench_server_cpu[@]}" "$bench" --port 0 >"$prefix/sluice.out" 2>&1 &
sluice_pid=$!
sluice_url=""
for _ in $(seq 100); do
    sluice_url="$(sed -n 's/^listening \(http:.*\)$/\1/p' "$prefix/sluice.out")"
    [[ -n "$sluice_url" ]] && break
    kill -0 "$sluice_pid" 2>/dev/null || { cat "$prefix/sluice.out" >&2; die "bench_http_server did not start"; }
    sleep 0.1
done
[[ -n "$sluice_url" ]] || die "bench_http_server did not say where it listens"

# The answers the load will get, checked once on each.
for url in "$nginx_url" "$sluice_url"; do
    answer="$(curl -sS -H 'Content-Type: application/json' -d "$body" -w ' %{http_code}' "$url$path")"
    [[ "$answer" == '{"accepted":1} 202' ]] || die "unexpected answer from $url$path: $answer"
done
bad="$(curl -sS -H 'Content-Type: application/json' -d '{"nomessage":1}' -w ' %{http_code}' "$sluice_url$path")"
[[ "$bad" == *' 400' ]] || die "bench_http_server accepted a body without a message: $bad"

servers=(sluice nginx)
declare -A urls=([sluice]="$sluice_url" [nginx]="$nginx_url")
declare -A pids=([sluice]="$sluice_pid" [nginx]="$nginx_pid")
if [[ "$with_sluiced" -eq 1 ]]; then
    sluiced_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    printf '[sources.api]\ntype = "http"\nport = %s\nqueue = "none"\n[queues.none]\n[[queues.none.routes]]\nby = "broadcast"\nsinks = ["unused"]\n[sinks.unused]\ntype = "file"\ndirectory = "%s/unused"\n' \
        "$sluiced_port" "$prefix" >"$prefix/sluiced.toml"
    "${bench_server_cpu[@]}" "$sluiced" --config "$prefix/sluiced.toml" --state-dir "$prefix/state" --log-level warn \
        >"$prefix/sluiced.out" 2>&1 &
    sluiced_pid=$!
    urls[sluiced]="http://127.0.0.1:$sluiced_port"
    pids[sluiced]="$sluiced_pid"
    for _ in $(seq 100); do curl -sf -o /dev/null "${urls[sluiced]}/health" && break; sleep 0.1; done
    curl -sf -o /dev/null -H 'Content-Type: application/json' "${urls[sluiced]}/minifirehoses" \
        -d '{"name":"bench","sinks":{"files":{"type":"file","directory":"'"$prefix"'/out","format":"ndjson"}},"buffer_size_limit_mb":64}' ||
        { cat "$prefix/sluiced.out" >&2; die "sluiced did not create the firehose"; }
    answer="$(curl -sS -H 'Content-Type: application/json' -d "$body" -w ' %{http_code}' "${urls[sluiced]}$path")"
    [[ "$answer" == '{"accepted":1,"failed":0,"errors":[]} 200' ]] || die "unexpected answer from sluiced: $answer"
    servers+=(sluiced)
fi

echo "bench-http-server: nginx on $nginx_url, sluice (1 loop thread) on $sluice_url"
echo "bench-http-server: POST $path, $connections connections, ${duration}s per server, $rounds round(s)$([[ $pin -eq 1 ]] && echo ", pinned")"

# CPU time (in clock ticks) used so far by a server: the process and its children (nginx's worker).
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        # utime and stime are fields 14 and 15 of /proc/PID/stat (after the parenthesised name).
        total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}

# wrk's latency lines read "99%  1.23ms": in milliseconds.
p99_ms() {
    awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
        if (f < 0) exit 1; printf "%.3f\n", v * f }' <<<"$1"
}

declare -A rps=() p99=() per_cpu=() busy=()
wrk_answered=0 # responses wrk counted from sluice, summed over the rounds
for ((round = 1; round <= rounds; round++)); do
    order=("${servers[@]}")
    [[ $((round % 2)) -eq 0 ]] && order=(nginx sluice "${servers[@]:2}")
    for name in "${order[@]}"; do
        url="${urls[$name]}"
        pid="${pids[$name]}"
        cpu_before="$(cpu_ticks "$pid")"
        echo
        echo "--- round $round/$rounds, $name: wrk -t1 -c$connections -d${duration}s --latency -s bench/http/message.lua $url$path"
        out="$("${bench_client_cpu[@]}" wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$root/bench/http/message.lua" "$url$path" 2>&1)" ||
            { echo "$out"; die "wrk failed"; }
        cpu_used=$(($(cpu_ticks "$pid") - cpu_before))
        echo "$out"
        if grep -q "Non-2xx\|Socket errors" <<<"$out"; then die "$name: wrk saw failed answers or socket errors"; fi
        answered="$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<<"$out")"
        per_cpu[$name]+=" $(awk -v n="$answered" -v t="$cpu_used" -v hz="$clk_tck" 'BEGIN { printf "%.0f", (t > 0 ? n * hz / t : 0) }')"
        busy[$name]+=" $(awk -v t="$cpu_used" -v hz="$clk_tck" -v d="$duration" 'BEGIN { printf "%.0f", 100 * t / hz / d }')"
        rps[$name]+=" $(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")"
        [[ "$name" != sluice ]] || wrk_answered=$((wrk_answered + answered))
        [[ "$name" != sluiced ]] || sluiced_answered=$((${sluiced_answered:-0} + answered))
        p99[$name]+=" $(p99_ms "$out")"
    done
done

bench_stop_pid "$sluice_pid" TERM
sluice_pid=""
result="$(grep '^result ' "$prefix/sluice.out" || true)"
[[ -n "$result" ]] || { cat "$prefix/sluice.out" >&2; die "bench_http_server printed no result"; }
requests="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$result")"
accepted="$(sed -n 's/.* accepted=\([0-9]*\).*/\1/p' <<<"$result")"
# Every request but the one check without a message was a message the handler parsed and accepted;
# wrk counts the answers it read, the server may have taken a few more that were in flight at the end.
[[ "$requests" -eq $((accepted + 1)) ]] || die "bench_http_server refused messages it should have accepted: $result"
in_flight=$((accepted - 1 - wrk_answered))
[[ "$in_flight" -ge 0 && "$in_flight" -le $((rounds * connections)) ]] ||
    die "bench_http_server accepted $((accepted - 1)) messages from wrk, which counted $wrk_answered answers"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
round_list() { for v in $1; do printf ' %s' "$v"; done; }

s_rps="$(median "${rps[sluice]}")"; n_rps="$(median "${rps[nginx]}")"
s_p99="$(median "${p99[sluice]}")"; n_p99="$(median "${p99[nginx]}")"
echo
echo "=== POST $path on 127.0.0.1, $connections connections, wrk -t1 (median of $rounds) ==="
printf '  %-8s %10.0f req/s   p99 %8.3f ms   rounds req/s:%s  p99 ms:%s\n' sluice "$s_rps" "$s_p99" "$(round_list "${rps[sluice]}")" "$(round_list "${p99[sluice]}")"
printf '  %-8s %10.0f req/s   p99 %8.3f ms   rounds req/s:%s  p99 ms:%s\n' nginx "$n_rps" "$n_p99" "$(round_list "${rps[nginx]}")" "$(round_list "${p99[nginx]}")"
s_cpu="$(median "${per_cpu[sluice]}")"; n_cpu="$(median "${per_cpu[nginx]}")"
echo "  per CPU-second of the server (steadier on a busy machine; busy = % of a core while wrk ran):"
printf '  %-8s %10.0f req/CPU-s   busy %%:%s\n' sluice "$s_cpu" "$(round_list "${busy[sluice]}")"
printf '  %-8s %10.0f req/CPU-s   busy %%:%s\n' nginx "$n_cpu" "$(round_list "${busy[nginx]}")"
awk -v a="$s_rps" -v b="$n_rps" -v c="$s_p99" -v d="$n_p99" -v e="$s_cpu" -v f="$n_cpu" \
    'BEGIN { printf "  sluice/nginx: %.2f of the requests/s, %.2f times the p99 latency, %.2f of the requests per CPU-second\n",
             (b > 0 ? a / b : 0), (d > 0 ? c / d : 0), (f > 0 ? e / f : 0) }'
echo "  sluice counted $((accepted - 1)) messages from wrk; wrk read $wrk_answered answers ($in_flight in flight at the ends of rounds)"
if [[ "$with_sluiced" -eq 1 ]]; then
    d_rps="$(median "${rps[sluiced]}")"; d_p99="$(median "${p99[sluiced]}")"; d_cpu="$(median "${per_cpu[sluiced]}")"
    bench_stop_pid "$sluiced_pid" TERM
    sluiced_pid=""
    written="$(cat "$prefix"/out/*.ndjson 2>/dev/null | wc -l)"
    printf '  %-8s %10.0f req/s   p99 %8.3f ms   rounds req/s:%s  p99 ms:%s\n' sluiced "$d_rps" "$d_p99" "$(round_list "${rps[sluiced]}")" "$(round_list "${p99[sluiced]}")"
    printf '  %-8s %10.0f req/CPU-s   busy %%:%s\n' sluiced "$d_cpu" "$(round_list "${busy[sluiced]}")"
    awk -v a="$d_rps" -v b="$n_rps" -v c="$d_p99" -v d="$n_p99" \
        'BEGIN { printf "  sluiced/nginx: %.2f of the requests/s, %.2f times the p99 latency (each answer after a synced journal write)\n",
                 (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
    extra=$((written - 1 - sluiced_answered))
    echo "  sluiced wrote $((written - 1)) messages from wrk to its files; wrk read $sluiced_answered answers"
    [[ "$extra" -ge 0 && "$extra" -le $((rounds * connections)) ]] || die "sluiced's files hold $written messages, wrk was answered $sluiced_answered times"
fi
