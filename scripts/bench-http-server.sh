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

nginx_bin="$(command -v nginx || true)"
[[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
[[ -x "$nginx_bin" ]] || die "nginx is not installed (run scripts/install-deps.sh)"
command -v wrk >/dev/null || die "wrk is not installed (run scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"

bench="$build_dir/bench/bench_http_server"
if [[ ! -x "$bench" ]]; then
    echo "bench-http-server: building bench_http_server in $build_dir"
    if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
        [[ "$build_dir" == "$root/build/release" ]] || die "$build_dir is not a configured build directory"
        (cd "$root" && cmake --preset release >/dev/null)
    fi
    cmake --build "$build_dir" --target bench_http_server
fi
sluiced="$build_dir/tools/sluiced/sluiced"
if [[ "$with_sluiced" -eq 1 && ! -x "$sluiced" ]]; then
    echo "bench-http-server: building sluiced in $build_dir"
    cmake --build "$build_dir" --target sluiced
fi

client_cpu=()
server_cpu=()
if [[ "$pin" -eq 1 ]]; then
    command -v taskset >/dev/null || die "--pin needs taskset (util-linux)"
    last=$(($(nproc) - 1))
    [[ "$last" -ge 1 ]] || die "--pin needs at least two CPUs"
    client_cpu=(taskset -c 0)
    server_cpu=(taskset -c "$last")
fi

prefix="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-http-server.XXXXXX")"
nginx_pid=""
sluice_pid=""
sluiced_pid=""
stop_pid() { # pid signal
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$sluice_pid" TERM
    stop_pid "$sluiced_pid" TERM
    stop_pid "$nginx_pid" QUIT
    rm -rf "$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$prefix" # nginx's worker runs as nobody when started by root

path=/minifirehoses/bench/message
body='{"message":"check","tenant":"acme"}'

# nginx on a free port: pick one, try, try another when it is taken.
nginx_url=""
for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" "$root/bench/http/nginx-message.conf.in" >"$prefix/nginx.conf"
    : >"$prefix/error.log"
    "${server_cpu[@]}" "$nginx_bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" \
        </dev/null >"$prefix/nginx.out" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 50); do
        kill -0 "$nginx_pid" 2>/dev/null || break
        if curl -sf -o /dev/null --max-time 1 -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port$path"; then
            nginx_url="http://127.0.0.1:$port"
            break 2
        fi
        sleep 0.1
    done
    if kill -0 "$nginx_pid" 2>/dev/null; then
        cat "$prefix/error.log" "$prefix/nginx.out" >&2
        die "nginx runs but does not answer on port $port"
    fi
    grep -q "Address already in use" "$prefix/error.log" "$prefix/nginx.out" ||
        { cat "$prefix/error.log" "$prefix/nginx.out" >&2; die "nginx did not start"; }
done
[[ -n "$nginx_url" ]] || die "no free port found for nginx"

# sluice's server on an ephemeral port; it prints "listening URL".
"${server_cpu[@]}" "$bench" --port 0 >"$prefix/sluice.out" 2>&1 &
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
    "${server_cpu[@]}" "$sluiced" --config "$prefix/sluiced.toml" --state-dir "$prefix/state" --log-level warn \
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

echo "bench-http-server: nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') (1 worker) on $nginx_url, sluice (1 loop thread) on $sluice_url"
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
        out="$("${client_cpu[@]}" wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$root/bench/http/message.lua" "$url$path" 2>&1)" ||
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

stop_pid "$sluice_pid" TERM
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
    stop_pid "$sluiced_pid" TERM
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
