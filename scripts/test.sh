#!/usr/bin/env bash
# Runs every test of sluice, the README's "run all tests" command:
#
#   bash scripts/test.sh            all presets, in this order:
#     dev    g++ Debug -Werror: unit and integration tests on both io backends + packaging tests
#            (amalgamation, single header, CMake/meson/pkg-config consumers, meson build)
#     asan   g++ AddressSanitizer + UBSan: the unit test binary only, built and run on both io backends
#     tsan   clang++-14 ThreadSanitizer, -Werror: every test built (this is also the clang warnings
#            check), the unit suites where threads meet run on both io backends (SLUICE_UNIT_TEST_SUITES)
#     fuzz   scripts/fuzz.sh: every libFuzzer target for a short run (counts as one test)
#   Not in the default run: clang (clang++-14 Debug -Werror, all unit tests; `bash scripts/test.sh clang`).
#   The integration tests (ctest label `integration`) run against the SQS emulator, which ctest's
#   fixtures install (npm ci, the first time), start and stop: scripts/emulator.sh.
#   bash scripts/test.sh dev asan   only these presets
#
# Each preset is configured once (build/<preset>, reused by later runs) and built with -j2 and ccache.
# The last line is "N passed, M failed" (N and M add up the ctest tests of all presets); the exit
# status is non-zero when anything failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

bash scripts/install-deps.sh || { echo "test.sh: installing dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-2}"
export SLUICE_JOBS="${SLUICE_JOBS:-2}"
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

presets=("$@")
if [[ ${#presets[@]} -eq 0 ]]; then
    presets=(dev asan tsan fuzz)
fi

# Sanitizers of clang 14 / gcc 12 can fail to start when the kernel randomizes mmap with more than
# 28 bits; run them without address space randomization then (personality is inherited by tests).
sanitizer_launcher=()
rnd_bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)"
if [[ "$rnd_bits" -gt 28 ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
    sanitizer_launcher=(setarch "$(uname -m)" -R)
fi

# Test files per unity batch (tests/CMakeLists.txt): CI builds every preset once from scratch, where two
# large batches cost about a quarter less CPU than eight small ones; locally the preset's default (ten)
# keeps a one-file rebuild short. SLUICE_UNITY_BATCH_SIZE=N overrides both.
unity_batch="${SLUICE_UNITY_BATCH_SIZE:-}"
if [[ -z "$unity_batch" && "${CI:-}" == true ]]; then
    unity_batch=36
fi

total_passed=0
total_failed=0
summary=()

now() { date +%s; }

# run_preset <name>: configure (first time only), build, ctest; adds to the totals.
run_preset() {
    local preset="$1" dir="$root/build/$1" start end log passed failed out_of
    start="$(now)"
    echo
    echo "=== preset $preset ==="
    local configure_args=() reconfigure=0
    if [[ -n "$unity_batch" ]]; then
        configure_args+=(-DSLUICE_UNITY_BATCH_SIZE="$unity_batch")
        grep -qx "SLUICE_UNITY_BATCH_SIZE:STRING=$unity_batch" "$dir/CMakeCache.txt" 2>/dev/null || reconfigure=1
    fi
    if [[ $reconfigure -eq 1 || ! -f "$dir/CMakeCache.txt" || ! -f "$dir/build.ninja" || "$root/CMakePresets.json" -nt "$dir/CMakeCache.txt" ]]; then
        if ! cmake --preset "$preset" "${configure_args[@]}"; then
            echo "test.sh: configuring preset $preset failed" >&2
            total_failed=$((total_failed + 1))
            summary+=("$preset: configure FAILED")
            return
        fi
    fi
    # asan builds what it runs, the unit test binary: the integration tests' servers and tools run
    # under dev (and their code under tsan's build with clang), and CI has 90 minutes for all presets.
    local targets=()
    if [[ "$preset" == asan ]]; then
        targets=(--target sluice_tests)
    fi
    if ! cmake --build --preset "$preset" -j "$SLUICE_JOBS" "${targets[@]}"; then
        echo "test.sh: building preset $preset failed" >&2
        total_failed=$((total_failed + 1))
        summary+=("$preset: build FAILED ($(( $(now) - start ))s)")
        return
    fi

    local launcher=()
    if [[ "$preset" == asan || "$preset" == tsan ]]; then
        launcher=("${sanitizer_launcher[@]}")
    fi
    # The unit and integration tests first (the emulator's start-up is mostly waiting), then the
    # packaging tests (which compile), so timing-sensitive unit tests never share the two cores
    # with nested builds.
    # dev runs everything; clang, asan and tsan run unit tests (both io backends) only: clang's job is
    # its warnings (the whole tree is built with -Werror), asan's the memory of every unit test and
    # tsan's the threads the unit tests make meet, while the integration tests' emulators would add
    # minutes to CI without finding more.
    local phases=("-LE packaging") phase status preset_passed=0 preset_failed=0
    if [[ "$preset" == clang || "$preset" == tsan ]]; then
        phases=("-L unit")
    fi
    if [[ "$preset" == asan ]]; then
        phases=("-L unit -LE sluiced") # sluiced_validate needs the sluiced program, not built here
    fi
    if [[ "$preset" == dev ]]; then
        phases+=("-L packaging")
    fi
    for phase in "${phases[@]}"; do
        log="$dir/ctest-summary.log"
        # shellcheck disable=SC2086
        "${launcher[@]}" ctest --preset "$preset" -j "$CTEST_PARALLEL_LEVEL" $phase 2>&1 | tee "$log"
        status="${PIPESTATUS[0]}"
        # "100% tests passed, 0 tests failed out of 11"
        if ! read -r passed failed out_of < <(sed -n 's/^[0-9]*% tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/x \1 \2/p' "$log" | tail -1 | awk '{print $3-$2, $2, $3}'); then
            passed=0
            failed=0
        fi
        if [[ "$status" -ne 0 && "$failed" -eq 0 ]]; then
            failed=1 # ctest failed without running tests (or ran none)
        fi
        preset_passed=$((preset_passed + passed))
        preset_failed=$((preset_failed + failed))
    done
    end="$(now)"
    total_passed=$((total_passed + preset_passed))
    total_failed=$((total_failed + preset_failed))
    summary+=("$preset: $preset_passed passed, $preset_failed failed ($((end - start))s)")
}

# run_fuzz: the short fuzzing pass (scripts/fuzz.sh), one passed or failed test.
run_fuzz() {
    local start
    start="$(now)"
    echo
    echo "=== fuzz ==="
    # A target with an open finding (an input in fuzz/findings/<target>/) would fail CI on a known
    # defect: it runs by name (scripts/fuzz.sh <target>) until the finding is fixed.
    local skip=() dir
    for dir in "$root"/fuzz/findings/*/; do
        [[ -d "$dir" && -n "$(ls -A "$dir")" ]] && skip+=(--skip "$(basename "$dir")")
    done
    if bash "$root/scripts/fuzz.sh" "${skip[@]}"; then
        total_passed=$((total_passed + 1))
        summary+=("fuzz: 1 passed, 0 failed ($(( $(now) - start ))s)")
    else
        total_failed=$((total_failed + 1))
        summary+=("fuzz: 0 passed, 1 failed ($(( $(now) - start ))s)")
    fi
}

overall_start="$(now)"
for preset in "${presets[@]}"; do
    if [[ "$preset" == fuzz ]]; then
        run_fuzz
        continue
    fi
    run_preset "$preset"
done

echo
echo "=== summary ($(( $(now) - overall_start ))s) ==="
for line in "${summary[@]}"; do
    echo "  $line"
done
echo "$total_passed passed, $total_failed failed"
[[ "$total_failed" -eq 0 ]]
