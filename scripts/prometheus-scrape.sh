#!/usr/bin/env bash
# Has a real Prometheus server (Debian's prometheus package) scrape <base>/metrics of a running
# service and asks its HTTP API what it got: up must be 1 for the target, a sluice_events_in_total
# series must be above zero, and its rate over the scrapes must be above zero too (the counters move
# as Prometheus sees them). Prometheus runs on 127.0.0.1 on a free port, scraping every second, with
# its storage in a temporary directory; it is stopped and its files removed whatever happens.
#
#   scripts/prometheus-scrape.sh <base-url | @file-holding-it> [work-dir]
set -euo pipefail

die() { echo "prometheus-scrape: error: $*" >&2; exit 1; }
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 <base-url | @file> [work-dir]" >&2; exit 2; }
base="$1"
if [[ "$base" == @* ]]; then base="$(cat "${base#@}")" || die "cannot read ${1#@}"; fi
base="${base%/}"
[[ "$base" =~ ^http://([^/]+)(/.*)?$ ]] || die "'$base' is not an http:// base URL"
target="${BASH_REMATCH[1]}"
metrics_path="${BASH_REMATCH[2]:-}/metrics"
for tool in prometheus curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/install-deps.sh)"
done

parent="${2:-${TMPDIR:-/tmp}}"
mkdir -p "$parent"
work="$(mktemp -d "$parent/prometheus.XXXXXX")"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free port: bound by the kernel, read back, released (Prometheus binds it a moment later).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    metrics_path: "$metrics_path"
    static_configs:
      - targets: ["$target"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pid=$!
# Should this script be killed outright (SIGKILL: a ctest timeout), Prometheus goes with it.
( set +e; trap '' INT TERM; while kill -0 $$ 2>/dev/null; do sleep 1; done
  kill -TERM "$pid"; for _ in 1 2 3 4 5; do kill -0 "$pid" || break; sleep 1; done
  kill -KILL "$pid"; rm -rf "$work" ) >/dev/null 2>&1 &
api="http://127.0.0.1:$port/api/v1"

# The first sample of the query's result vector, or nothing.
query() {
    curl -sf --max-time 2 --get --data-urlencode "query=$1" "$api/query" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
v = r.get("data", {}).get("result", []) if r.get("status") == "success" else []
print(v[0]["value"][1] if v else "")' 2>/dev/null || true
}

up="" in="" rate=""
deadline=$((SECONDS + 30))
while [[ $SECONDS -lt $deadline ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/prometheus.log" >&2; die "prometheus exited"; }
    up="$(query 'up{job="sluice"}')"
    in="$(query 'sum(sluice_events_in_total{job="sluice"})')"
    rate="$(query 'sum(rate(sluice_events_in_total{job="sluice"}[5s]))')"
    if [[ "$up" == 1 ]] && python3 -c "import sys; sys.exit(0 if float('$in' or 0) > 0 and float('$rate' or 0) > 0 else 1)"; then
        echo "prometheus-scrape: Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') scraped $base$metrics_path:" \
             "up=$up, sum(sluice_events_in_total)=$in, rate over 5s=$rate/s"
        exit 0
    fi
    sleep 0.2
done
echo "--- targets ---" >&2
curl -sf --max-time 2 "$api/targets" >&2 || true
echo >&2
tail -n 20 "$work/prometheus.log" >&2
die "after 30 s: up='$up', sum(sluice_events_in_total)='$in', rate='$rate' (want 1, > 0, > 0)"
