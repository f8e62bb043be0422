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
    openssl              # tests: throwaway TLS certificates and s_server
    libzstd-dev
    liblz4-dev
    zlib1g-dev           # optional: gzip objects, Parquet GZIP pages, Pulsar ZLIB (SLUICE_HAS_ZLIB)
    libsnappy-dev        # optional: Parquet SNAPPY pages, Pulsar SNAPPY (SLUICE_HAS_SNAPPY)
    doctest-dev          # tests
    libbenchmark-dev     # bench/
    curl                 # scripts/emulator.sh (start-up checks of the emulators)
    nginx                # scripts/bench-http.sh: the loopback HTTP server (never started as a service)
    wrk                  # scripts/bench-http.sh: the HTTP load baseline
    doxygen              # scripts/docs.sh and the `docs` target: the API reference (packaging test)
    libtomlplusplus-dev  # optional: sluice/config/toml_config.hpp and sluiced (SLUICE_HAS_TOMLPP)
    prometheus           # tests: promtool check metrics, and a real server scraping /metrics (never started as a service)
    chromium             # tests: the status page in headless Chromium (tests/status_page, puppeteer-core)
)

# The emulators (tests/emulators, installed by scripts/emulator.sh with `npm ci`) need npm; so does
# the Pulsar fixture broker (tests/pulsar, scripts/pulsar-fixture.sh), which runs on this node (18+).
# it runs on the Node 22 binary it installs, so any node/npm will do. Ask apt only for what is not
# on PATH: NodeSource's nodejs bundles npm and conflicts with Debian's npm package.
if ! command -v node >/dev/null; then
    packages+=(nodejs npm)
elif ! command -v npm >/dev/null; then
    if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
        echo "install-deps: node is NodeSource's nodejs but npm is missing; reinstall nodejs (it bundles npm)" >&2
        exit 1
    fi
    packages+=(npm)
fi

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
# Installing nginx or prometheus must not start Debian's services (ports 80 and 9090 on every
# address): a policy-rc.d that refuses every start, for the duration of the install, unless the
# system has one already.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while it installs\nexit 101\n' |
        "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    own_policy=1
fi
remove_policy() {
    if [[ "$own_policy" -eq 1 ]]; then
        "${as_root[@]}" rm -f "$policy"
    fi
}
trap remove_policy EXIT
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
