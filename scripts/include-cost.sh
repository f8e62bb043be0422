#!/usr/bin/env bash
# Measures what including each public header costs a user: compile time (g++ -fsyntax-only of a file
# that only includes it, wall seconds, best of --runs), preprocessed size (g++ -E | wc -l) and peak
# compiler memory, with every optional dependency on (as the dev preset builds).
#
#   bash scripts/include-cost.sh [--runs N] [--cxx g++] [HEADER...]
#
# HEADER is a path under include/ (sluice/queue/collector_queue.hpp); default: sluice/sluice.hpp and
# every public header (not */detail/*). Prints a table sorted by path and a TOTAL line. Run it under
# the build lock on a shared machine (flock /tmp/sluice-build.lock ...): it compiles.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=1
cxx="${CXX:-g++}"
headers=()
while (($#)); do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --cxx) cxx="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) headers+=("$1"); shift ;;
    esac
done
if ((${#headers[@]} == 0)); then
    headers=(sluice/sluice.hpp)
    while IFS= read -r h; do headers+=("$h"); done < <(cd "$root/include" &&
        find sluice -name '*.hpp' -not -path '*/detail/*' -not -path sluice/sluice.hpp | sort)
fi

flags=(-std=c++20 -I"$root/include" -DSLUICE_HAS_CURL=1 -DSLUICE_HAS_OPENSSL=1 -DSLUICE_HAS_SIMDJSON=1
       -DSLUICE_HAS_ZSTD=1 -DSLUICE_HAS_LZ4=1 -DSLUICE_HAS_ZLIB=1 -DSLUICE_HAS_SNAPPY=1)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

printf '%-52s %8s %10s %8s\n' header seconds lines MiB
total_s=0 total_lines=0
for h in "${headers[@]}"; do
    printf '#include <%s>\n' "$h" >"$tmp/tu.cpp"
    lines="$("$cxx" "${flags[@]}" -E -P "$tmp/tu.cpp" | wc -l)"
    best="" mib=""
    for ((r = 0; r < runs; r++)); do
        # /usr/bin/time: %e wall seconds, %M peak resident KiB of the compiler
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$cxx" "${flags[@]}" -fsyntax-only "$tmp/tu.cpp" ||
            { echo "include-cost: $h does not compile on its own" >&2; exit 1; }
        read -r s kib <"$tmp/time"
        if [[ -z "$best" ]] || awk -v a="$s" -v b="$best" 'BEGIN{exit !(a<b)}'; then best="$s"; mib=$((kib / 1024)); fi
    done
    printf '%-52s %8.2f %10d %8d\n' "$h" "$best" "$lines" "$mib"
    total_s="$(awk -v a="$total_s" -v b="$best" 'BEGIN{print a+b}')"
    total_lines=$((total_lines + lines))
done
printf '%-52s %8.2f %10d\n' TOTAL "$total_s" "$total_lines"
