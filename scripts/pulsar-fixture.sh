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
# shellcheck source=scripts/lib/npm-pinned.sh
source "$root/scripts/lib/npm-pinned.sh"
# shellcheck source=scripts/lib/fixture.sh
source "$root/scripts/lib/fixture.sh"

die() { echo "pulsar-fixture: error: $*" >&2; exit 1; }
[[ $# -eq 2 && -n "$2" ]] || { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }
action="$1"
state="$2"

install() {
    npm_ci_pinned "$dir" pulsar-fixture || die "could not install the packages of ${dir#"$root"/}"
}

running_pid() { fixture_pid "$state" fixture-broker.js; }
stop() { fixture_stop "$state" fixture-broker.js pulsar-fixture; }

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
