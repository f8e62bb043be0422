#!/usr/bin/env bash
# Fetches <base>/metrics from a running service and checks it with `promtool check metrics` (Debian's
# prometheus package): the exposition must parse and promtool must report no problem at all (its
# lints: HELP and TYPE, counter names ending in _total, units in names...). It must also hold real
# series: at least one sluice_events_in_total sample above zero.
#
#   scripts/promtool-check.sh <base-url | @file-holding-it>     e.g. http://127.0.0.1:8080
set -euo pipefail

die() { echo "promtool-check: error: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || { echo "usage: $0 <base-url | @file>" >&2; exit 2; }
base="$1"
if [[ "$base" == @* ]]; then base="$(cat "${base#@}")" || die "cannot read ${1#@}"; fi
base="${base%/}"
command -v promtool >/dev/null || die "promtool is not installed (run scripts/install-deps.sh: Debian's prometheus)"
command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A service started a moment ago may not have counted its first event yet (the test fixture's load
# generator posts every 100 ms): scrape again for up to 10 s before calling it a failure.
for attempt in $(seq 1 50); do
    curl -sS --fail --max-time 10 -D "$work/headers" -o "$work/metrics" "$base/metrics" || die "GET $base/metrics failed"
    grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers" ||
        die "GET $base/metrics: not the text format 0.0.4 ($(grep -i '^content-type' "$work/headers" | tr -d '\r'))"
    samples="$(grep -c '^sluice_' "$work/metrics" || true)"
    moving="$(awk '/^sluice_events_in_total[{ ]/ && $NF > 0 { n++ } END { print n + 0 }' "$work/metrics")"
    [[ "$moving" -gt 0 ]] && break
    [[ $attempt -lt 50 ]] && sleep 0.2
done
[[ "$moving" -gt 0 ]] || die "no sluice_events_in_total sample above zero among $samples sluice_ samples (10 s)"

# promtool prints one line per problem and exits non-zero on a parse error; lints only print.
set +e
promtool check metrics <"$work/metrics" >"$work/report" 2>&1
status=$?
set -e
if [[ $status -ne 0 || -s "$work/report" ]]; then
    cat "$work/report" >&2
    die "promtool check metrics: exit $status, $(wc -l <"$work/report") line(s) of problems"
fi
echo "promtool-check: $base/metrics: $samples samples, $moving sluice_events_in_total series above zero, no problems ($(promtool --version 2>&1 | head -1))"
