#!/usr/bin/env bash
# Packaging tests: build small outside projects that consume sluice the ways the README documents.
#
#   tests/consumers/run.sh <which>
#
#   single_header     compile tests/single_header (single_include/ only, -Werror, two TUs) and run it
#   find_package      cmake --install sluice to a temp prefix; find_package(sluice CONFIG) from outside
#   build_tree        find_package(sluice) with sluice_DIR = a build tree (export())
#   add_subdirectory  add_subdirectory(<sluice>) from an outside project
#   fetchcontent      FetchContent from a file:// git URL of this repository, then from
#                     FETCHCONTENT_SOURCE_DIR_SLUICE (no network either way)
#   meson_pkgconfig   cmake --install; a meson project and a plain compiler call use sluice.pc
#   meson_subproject  a meson project with subprojects/sluice -> this repository
#   meson_self        meson setup/compile/test of this repository (-Dtests=enabled), meson install
#
# ctest (tests/CMakeLists.txt) sets the environment below to match its own build; run by hand, the
# defaults apply:
#   SLUICE_SOURCE_DIR  the repository (default: this script's)
#   SLUICE_WORK_DIR    scratch space (default: /tmp/sluice-consumers); <which>/ in it is wiped first
#   SLUICE_BUILD_DIR   a configured sluice build tree, for build_tree (default: one made here)
#   SLUICE_VERSION     the version the consumers must see (default: read from version.hpp)
#   SLUICE_CMAKE, SLUICE_GENERATOR, SLUICE_CXX, SLUICE_CXX_LAUNCHER, SLUICE_PYTHON
#   SLUICE_JOBS        parallel compile jobs of the nested builds (default 2)
set -euo pipefail

which="${1:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${SLUICE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
work_root="${SLUICE_WORK_DIR:-/tmp/sluice-consumers}"
cmake="${SLUICE_CMAKE:-cmake}"
python="${SLUICE_PYTHON:-python3}"
cxx="${SLUICE_CXX:-$(command -v c++ || command -v g++)}"
launcher="${SLUICE_CXX_LAUNCHER:-}"
if [[ -z "${SLUICE_CXX_LAUNCHER+x}" ]] && command -v ccache >/dev/null; then
    launcher=ccache
fi
generator="${SLUICE_GENERATOR:-}"
if [[ -z "$generator" ]] && command -v ninja >/dev/null; then
    generator=Ninja
fi
version="${SLUICE_VERSION:-$(sed -n 's/^#define SLUICE_VERSION_STRING "\(.*\)"$/\1/p' "$src/include/sluice/version.hpp")}"
features="${SLUICE_FEATURES:-}"

if [[ -z "$which" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
fi

work="$work_root/$which"
rm -rf "$work"
mkdir -p "$work"

log() { printf '[consumer %s] %s\n' "$which" "$*"; }
die() { printf '[consumer %s] FAILED: %s\n' "$which" "$*" >&2; exit 1; }

# No build type: no optimisation and no debug info. The consumers check how sluice is found, included
# and linked, not its code, and an -O2 compile of the whole header costs about 10 s more each.
cmake_toolchain_args=(-DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=)
if [[ -n "$generator" ]]; then
    cmake_toolchain_args+=(-G "$generator")
fi
if [[ -n "$launcher" ]]; then
    cmake_toolchain_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
fi

jobs="${SLUICE_JOBS:-2}"

run_cmake() { log "cmake $*"; "$cmake" "$@"; }
build_cmake() { run_cmake --build "$1" -j "$jobs"; }

# copy_project <name>: the consumer project tests/consumers/<name> plus app.cpp, in $work/src.
copy_project() {
    mkdir -p "$work/src"
    cp -R "$here/$1/." "$work/src/"
    cp "$here/app.cpp" "$work/src/app.cpp"
}

# expect_app <binary> [exact|loose]: runs the consumer app and checks what it prints.
expect_app() {
    local out
    log "running $1"
    out="$("$1")" || die "$1 exited with $?"
    printf '%s\n' "$out"
    if [[ "${2:-exact}" == exact ]]; then
        [[ "$out" == "sluice $version"* ]] || die "expected 'sluice $version', got '$out'"
    else
        [[ "$out" =~ ^sluice\ [0-9]+\.[0-9]+\.[0-9]+ ]] || die "expected 'sluice x.y.z', got '$out'"
    fi
}

# install_sluice <prefix>: configure sluice alone (no tests/examples/bench/sluiced: the headers and the
# package files are what a consumer finds) and install it.
install_sluice() {
    local prefix="$1"
    run_cmake -S "$src" -B "$work/sluice-build" "${cmake_toolchain_args[@]}" \
        -DCMAKE_INSTALL_PREFIX="$prefix" -DSLUICE_BUILD_TOOLS=OFF \
        -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_BUILD_BENCH=OFF -DSLUICE_INSTALL=ON
    build_cmake "$work/sluice-build"
    run_cmake --install "$work/sluice-build"
    local f
    for f in include/sluice/sluice.hpp include/sluice/version.hpp share/cmake/sluice/sluiceConfig.cmake \
             share/cmake/sluice/sluiceConfigVersion.cmake share/cmake/sluice/sluiceTargets.cmake \
             share/pkgconfig/sluice.pc; do
        [[ -f "$prefix/$f" ]] || die "install is missing $f"
    done
}

# build_cmake_consumer <build dir> <cmake args...>
build_cmake_consumer() {
    local build="$1"
    shift
    run_cmake -S "$work/src" -B "$build" "${cmake_toolchain_args[@]}" "$@"
    build_cmake "$build"
    expect_app "$build/app"
}

meson_env() {
    # meson picks the compiler from CXX; keep ccache if this build uses it.
    if [[ -n "$launcher" ]]; then
        export CXX="$launcher $cxx"
    else
        export CXX="$cxx"
    fi
}

case "$which" in
single_header)
    "$python" "$src/scripts/amalgamate.py" --check ||
        log "(the committed single header is stale; compiling it as it is anyway)"
    [[ -f "$src/single_include/sluice/sluice.hpp" ]] || die "single_include/sluice/sluice.hpp is missing"
    # The same optional dependencies as the build that runs this test.
    feature_args=()
    for dep in CURL OPENSSL ZSTD LZ4 SIMDJSON ZLIB SNAPPY; do
        if [[ ",$features," == *",$dep,"* ]]; then
            feature_args+=(-DSLUICE_WITH_$dep=ON)
        else
            feature_args+=(-DSLUICE_WITH_$dep=OFF)
        fi
    done
    run_cmake -S "$src/tests/single_header" -B "$work/build" "${cmake_toolchain_args[@]}" \
        -DSLUICE_SOURCE_DIR="$src" "${feature_args[@]}"
    build_cmake "$work/build"
    log "running single_header_test"
    "$work/build/single_header_test"
    ;;

find_package)
    install_sluice "$work/prefix"
    copy_project find_package
    build_cmake_consumer "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DSLUICE_EXPECTED_VERSION="$version"
    # The installed package must not depend on the source or build tree.
    if grep -rlF -e "$src/include" -e "$work/sluice-build" "$work/prefix/share"; then
        die "installed files refer to the source or build tree"
    fi
    ;;

build_tree)
    build_dir="${SLUICE_BUILD_DIR:-}"
    if [[ -z "$build_dir" || ! -f "$build_dir/sluiceConfig.cmake" ]]; then
        run_cmake -S "$src" -B "$work/sluice-build" "${cmake_toolchain_args[@]}" \
            -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_BUILD_BENCH=OFF
        build_dir="$work/sluice-build"
    fi
    copy_project find_package
    build_cmake_consumer "$work/build" -Dsluice_DIR="$build_dir" -DSLUICE_EXPECTED_VERSION="$version"
    ;;

add_subdirectory)
    copy_project add_subdirectory
    build_cmake_consumer "$work/build" -DSLUICE_SOURCE_DIR="$src"
    ;;

fetchcontent)
    copy_project fetchcontent
    if git -C "$src" rev-parse --verify -q HEAD >/dev/null 2>&1; then
        # A clone of what is committed (uncommitted changes in $src are not part of it).
        commit="$(git -C "$src" rev-parse HEAD)"
        log "FetchContent from file://$src at $commit"
        build_cmake_consumer "$work/build-git" -DSLUICE_GIT_URL="file://$src" -DSLUICE_GIT_TAG="$commit" \
            -DFETCHCONTENT_UPDATES_DISCONNECTED=ON
        [[ -f "$work/build-git/_deps/sluice-src/include/sluice/sluice.hpp" ]] ||
            die "FetchContent did not clone sluice into _deps/sluice-src"
        expect_app "$work/build-git/app" loose
    else
        log "$src is not a git checkout: skipping the git URL variant"
    fi
    log "FetchContent with FETCHCONTENT_SOURCE_DIR_SLUICE=$src"
    build_cmake_consumer "$work/build-srcdir" -DSLUICE_GIT_URL="file:///nonexistent/sluice.git" \
        -DFETCHCONTENT_SOURCE_DIR_SLUICE="$src"
    ;;

meson_pkgconfig)
    install_sluice "$work/prefix"
    copy_project meson_pkgconfig
    export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    pc_version="$(pkg-config --modversion sluice)"
    [[ "$pc_version" == "$version" ]] || die "pkg-config says sluice $pc_version, expected $version"
    log "pkg-config --cflags --libs sluice: $(pkg-config --cflags --libs sluice)"
    # Plain pkg-config use, no build system.
    # shellcheck disable=SC2046
    $launcher "$cxx" -std=c++20 "$work/src/app.cpp" -o "$work/app-plain" $(pkg-config --cflags --libs sluice)
    expect_app "$work/app-plain"
    # meson, through the same sluice.pc.
    meson_env
    meson setup "$work/build" "$work/src" --buildtype=plain
    meson compile -C "$work/build" -j "$jobs"
    expect_app "$work/build/app"
    ;;

meson_subproject)
    copy_project meson_subproject
    mkdir -p "$work/src/subprojects"
    ln -s "$src" "$work/src/subprojects/sluice"
    meson_env
    meson setup "$work/build" "$work/src" --buildtype=plain --force-fallback-for=sluice
    meson compile -C "$work/build" -j "$jobs"
    expect_app "$work/build/app"
    ;;

meson_self)
    meson_env
    # One test file (the collector queue's): the CMake presets build and run every test already, and
    # a second full build here cost CI about ten minutes.
    meson setup "$work/build" "$src" --buildtype=plain -Dtests=enabled -Dwerror=true \
        -Dtests_glob='test_collector_queue.cpp' --prefix="$work/prefix"
    meson compile -C "$work/build" -j "$jobs"
    meson test -C "$work/build" --print-errorlogs
    meson install -C "$work/build" --quiet
    for f in include/sluice/sluice.hpp include/sluice/version.hpp share/pkgconfig/sluice.pc; do
        [[ -f "$work/prefix/$f" ]] || die "meson install is missing $f"
    done
    # The sluice.pc meson wrote works too.
    export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    pc_version="$(pkg-config --modversion sluice)"
    [[ "$pc_version" == "$version" ]] || die "meson's sluice.pc says $pc_version, expected $version"
    # shellcheck disable=SC2046
    $launcher "$cxx" -std=c++20 "$here/app.cpp" -o "$work/app-pkgconfig" $(pkg-config --cflags --libs sluice)
    expect_app "$work/app-pkgconfig"
    [[ "$(pkg-config --cflags sluice)" == *"-I$work/prefix/include"* ]] ||
        die "meson's sluice.pc does not point at the installed headers"
    ;;

*)
    die "unknown consumer test '$which' (see the top of $0)"
    ;;
esac

log "OK"
