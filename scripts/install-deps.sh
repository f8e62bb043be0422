#!/usr/bin/env bash
# Installs what building and testing sluice needs on Debian 12 (or a close Debian/Ubuntu).
# Idempotent: asks apt only for what dpkg says is missing, and does nothing when all is there.
#
#   bash scripts/install-deps.sh
#
# Runs apt-get directly as root, through sudo otherwise.
set -euo pipefail

# One package a line; add new ones here (a trailing comment says what needs it).
packages=(
    build-essential      # make, libc headers
    g++                  # the default compiler (dev, asan and release presets)
    clang-14             # clang and tsan presets
    libclang-rt-14-dev   # clang's sanitizer runtimes (tsan preset)
    cmake
    ninja-build
    meson
    pkg-config
    ccache
    python3              # scripts/amalgamate.py, meson helpers
    git                  # FetchContent consumer test
    liburing-dev         # required: the io_uring backend
    libsimdjson-dev      # optional dependencies (SLUICE_WITH_*)
    libcurl4-openssl-dev
    libssl-dev
    libzstd-dev
    liblz4-dev
    doctest-dev          # tests
    libbenchmark-dev     # bench/
)

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages are installed"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
