#!/usr/bin/env bash
# Builds sluice's libFuzzer targets (the `fuzz` CMake preset: clang++-14, -fsanitize=fuzzer,address,
# undefined) and runs each one, growing a working corpus in build/fuzz/corpus/<target> from the seeds in
# fuzz/corpus/<target>. See fuzz/README.md.
#
#   bash scripts/fuzz.sh                  short pass (CI, scripts/test.sh): 10 s per target, 2 at a time
#   bash scripts/fuzz.sh --long           600 s per target, one at a time
#   bash scripts/fuzz.sh --time 90 sigv4  these targets only, 90 s each
#   options: --time SECONDS, --runs N (stop each after N executions), --jobs N (targets at once),
#            --lock FILE (run each fuzzer under flock FILE), --no-build
#            --skip NAME (leave a target out; repeatable)
#
# Prints one line per run (executions, coverage, features, corpus size, seconds, result) and exits
# non-zero when a target crashed, failed a check or did not run. A crash leaves its input in
# build/fuzz/artifacts/<target>/: once the defect is fixed, keep it in fuzz/regressions/<target>/ (the
# unit tests replay that directory). A target with a dictionary, fuzz/dict/<target>.dict, runs with it.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

seconds=10
runs=0
jobs="${SLUICE_JOBS:-2}"
lock=""
build=1
targets=()
skip=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --long) seconds=600; jobs=1 ;;
        --time) seconds="$2"; shift ;;
        --runs) runs="$2"; shift ;;
        --jobs) jobs="$2"; shift ;;
        --lock) lock="$2"; shift ;;
        --no-build) build=0 ;;
        --skip) skip+=("$2"); shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done

export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"
dir="$root/build/fuzz"
if [[ "$build" -eq 1 ]]; then
    locked=()
    [[ -n "$lock" ]] && locked=(flock "$lock")
    if [[ ! -f "$dir/build.ninja" || "$root/CMakePresets.json" -nt "$dir/CMakeCache.txt" ]]; then
        "${locked[@]}" cmake --preset fuzz >/dev/null || { echo "fuzz.sh: configuring the fuzz preset failed" >&2; exit 1; }
    fi
    "${locked[@]}" cmake --build --preset fuzz -j "${SLUICE_JOBS:-2}" || { echo "fuzz.sh: building the fuzzers failed" >&2; exit 1; }
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < "$dir/fuzz/fuzzers.txt"
fi
if [[ ${#skip[@]} -gt 0 ]]; then
    kept=()
    for t in "${targets[@]}"; do
        [[ " ${skip[*]} " == *" $t "* ]] && { echo "fuzz.sh: skipping $t"; continue; }
        kept+=("$t")
    done
    targets=("${kept[@]}")
fi

# Sanitizers of clang 14 can fail to start when the kernel randomizes mmap with more than 28 bits.
launcher=()
if [[ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
    launcher=(setarch "$(uname -m)" -R)
fi
[[ -n "$lock" ]] && launcher=(flock "$lock" "${launcher[@]}")

# run_one <target>: one fuzzing run; its log is build/fuzz/logs/<target>.log.
run_one() {
    local t="$1" bin="$dir/fuzz/sluice_fuzz_$1" work="$dir/corpus/$1" art="$dir/artifacts/$1" log="$dir/logs/$1.log"
    mkdir -p "$work" "$art" "$(dirname "$log")"
    if [[ ! -x "$bin" ]]; then
        echo "fuzz.sh: no fuzzer $bin" > "$log"
        return 1
    fi
    local extra=()
    [[ "$runs" -gt 0 ]] && extra+=("-runs=$runs")
    [[ -f "$root/fuzz/dict/$t.dict" ]] && extra+=("-dict=$root/fuzz/dict/$t.dict")
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "${launcher[@]}" "$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=30 \
        -artifact_prefix="$art/" "${extra[@]}" "$work" "$root/fuzz/corpus/$t" > "$log" 2>&1
}

# summary <target> <status>: "target  runs  cov  ft  corpus  seconds  result".
summary() {
    local t="$1" status="$2" log="$dir/logs/$1.log" execs cov ft corp secs result
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)"
    read -r cov ft corp < <(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1 | awk '{print $2, $4, $6}')
    result="ok"
    [[ "$status" -ne 0 ]] && result="FAILED (see $log)"
    printf '  %-16s %12s runs  cov %-6s ft %-7s corpus %-6s %6ss  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "${secs:-?}" "$result"
}

limit=""
[[ "$runs" -gt 0 ]] && limit=" (at most $runs runs)"
echo "fuzzing ${#targets[@]} targets, ${seconds}s each$limit, $jobs at a time"
failed=0
declare -A status
pending=("${targets[@]}")
while [[ ${#pending[@]} -gt 0 ]]; do
    batch=("${pending[@]:0:$jobs}")
    pending=("${pending[@]:$jobs}")
    pids=()
    for t in "${batch[@]}"; do
        run_one "$t" &
        pids+=($!)
    done
    for i in "${!batch[@]}"; do
        wait "${pids[$i]}"
        status[${batch[$i]}]=$?
    done
done
for t in "${targets[@]}"; do
    summary "$t" "${status[$t]}"
    [[ "${status[$t]}" -ne 0 ]] && failed=$((failed + 1))
done
if [[ "$failed" -ne 0 ]]; then
    echo "fuzz.sh: $failed of ${#targets[@]} targets failed; crashing inputs are in $dir/artifacts/" >&2
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran clean"
