#!/usr/bin/env bash
# Starts and stops the loopback Pulsar fixture broker of the tests (tests/pulsar/fixture-broker.js),
# with its npm dependencies (pulsar-flex and pure-JavaScript codecs) pinned by
# tests/pulsar/package-lock.json, bound to 127.0.0.1 only.
#
#   bash scripts/pulsar-fixture.sh start <state-dir>
#   bash scripts/pulsar-fixture.sh stop <state-dir>
#
# start: installs tests/pulsar/node_modules with `npm ci` when it is missing or older than the lock
#        file (once; several build trees share it), starts the fixture with the `node` on PATH
#        (Node 18 or newer) on free ports and writes into <state-dir>:
#          fixture.json  {"port", "port2", "control", "tls_port", "tls_port2"}: the broker, its
#                        second listener (lookup redirects land there), the HTTP control channel,
#                        and the TLS twins of the first two
#          tls/          a throwaway CA (ca.pem) made with the openssl command at each start, and
#                        the broker's certificate for DNS:localhost only (so pulsar+ssl://127.0.0.1
#                        is a wrong host)
#          endpoint      pulsar://127.0.0.1:PORT
#          pid, fixture.log
# stop:  stops the fixture of <state-dir>; does nothing when none runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/pulsar"
stamp="$dir/node_modules/.sluice-lock-sha256"

die() { echo "pulsar-fixture: error: $*" >&2; exit 1; }
[[ $# -eq 2 && -n "$2" ]] || { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }
action="$1"
state="$2"

install() {
    command -v node >/dev/null || die "node is not installed (run scripts/install-deps.sh)"
    command -v npm >/dev/null || die "npm is not installed (run scripts/install-deps.sh)"
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    ((major >= 18)) || die "node $(node --version) is too old: the fixture needs Node 18 or newer"
    exec 9>"$dir/.install.lock"
    flock 9
    local hash
    hash="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$hash" ]]; then
        echo "pulsar-fixture: installing tests/pulsar/node_modules (npm ci)"
        if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$dir/.npm-ci.log" 2>&1; then
            tail -n 30 "$dir/.npm-ci.log" >&2
            die "npm ci in tests/pulsar failed (is the npm registry reachable?)"
        fi
        echo "$hash" >"$stamp"
    fi
    exec 9>&-
}

running_pid() {
    local pid
    [[ -f "$state/pid" ]] || return 0
    pid="$(cat "$state/pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q fixture-broker.js; then echo "$pid"; fi
}

stop() {
    local pid i
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "pulsar-fixture: stopped (pid $pid)"
    fi
    rm -f "$state/pid" "$state/endpoint" "$state/fixture.json"
}

make_pki() {
    local d="$state/tls" key="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    command -v openssl >/dev/null || die "openssl is not installed (run scripts/install-deps.sh)"
    rm -rf "$d" && mkdir -p "$d" && chmod 700 "$d"
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$d/server.ext"
    # shellcheck disable=SC2086 # $key is several options
    {
        openssl req -x509 $key -days 2 -subj '/CN=sluice pulsar fixture CA' -keyout "$d/ca.key" -out "$d/ca.pem" &&
            openssl req $key -subj '/CN=localhost' -keyout "$d/server.key" -out "$d/server.csr" &&
            openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/server.ext" -out "$d/server.pem"
    } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "making the test CA failed"; }
}

start() {
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    stop
    install
    make_pki
    PULSAR_FIXTURE_TLS_DIR="$state/tls" PULSAR_FIXTURE_STATE_FILE="$state/fixture.json" setsid node "$dir/fixture-broker.js" </dev/null >"$state/fixture.log" 2>&1 &
    local pid=$! i
    echo "$pid" >"$state/pid"
    for ((i = 0; i < 100; i++)); do
        [[ -s "$state/fixture.json" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$state/fixture.log" >&2; die "the fixture exited during start-up"; }
        sleep 0.1
    done
    [[ -s "$state/fixture.json" ]] || { stop; die "the fixture did not listen within 10 s"; }
    echo "pulsar://127.0.0.1:$(node -p "require('$state/fixture.json').port")" >"$state/endpoint"
    echo "pulsar-fixture: listening on $(cat "$state/endpoint") (pid $pid, log $state/fixture.log)"
}

case "$action" in
    start) start ;;
    stop) [[ -d "$state" ]] && state="$(cd "$state" && pwd)"; stop ;;
    *) die "unknown action $action" ;;
esac
