#!/usr/bin/env bash
# A real web server for the HTTP client's integration tests: Debian's nginx on 127.0.0.1, unprivileged,
# with a throwaway certificate for "localhost", serving plain HTTP/1.1 and HTTPS with HTTP/2.
#
#   scripts/nginx-fixture.sh start <state-dir>   writes <state-dir>/{http_url,https_url,ca.pem}
#   scripts/nginx-fixture.sh stop <state-dir>    idempotent
#
# Every response carries X-Connection (nginx's connection serial number, to see reuse and
# multiplexing), X-Request-Length and X-Protocol.
set -euo pipefail

command_name="${1:-}"
state="${2:-}"
[[ -n "$command_name" && -n "$state" ]] || { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

stop() {
    if [[ -f "$state/nginx.pid" ]]; then
        local pid
        pid="$(cat "$state/nginx.pid" 2>/dev/null || true)"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -QUIT "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$state/nginx.pid"
        echo "nginx-fixture: stopped"
    fi
}

if [[ "$command_name" == stop ]]; then
    stop
    exit 0
fi
[[ "$command_name" == start ]] || { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }

nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || { echo "nginx-fixture: nginx is not installed (bash scripts/install-deps.sh)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "nginx-fixture: openssl is not installed" >&2; exit 1; }

stop >/dev/null
mkdir -p "$state/logs" "$state/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$state/key.pem" -out "$state/ca.pem" >/dev/null 2>&1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
http_port="$(free_port)"
https_port="$(free_port)"

sed -e "s|@STATE@|$state|g" -e "s|@HTTP_PORT@|$http_port|g" -e "s|@HTTPS_PORT@|$https_port|g" \
    "$root/tests/nginx/nginx.conf.in" >"$state/nginx.conf"
"$nginx_bin" -p "$state" -c "$state/nginx.conf" -e "$state/logs/error.log"

for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$http_port/" >/dev/null 2>&1; then
        echo "http://127.0.0.1:$http_port" >"$state/http_url"
        echo "https://localhost:$https_port" >"$state/https_url"
        echo "nginx-fixture: http://127.0.0.1:$http_port and https://localhost:$https_port (HTTP/2)"
        exit 0
    fi
    sleep 0.1
done
echo "nginx-fixture: nginx did not answer; its error log:" >&2
tail -20 "$state/logs/error.log" >&2 || true
stop >/dev/null
exit 1
