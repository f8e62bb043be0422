# Sourced by the benchmark scripts that put a loopback nginx in front of a bench program
# (bench-kinesis.sh, bench-aws-path.sh): nginx from a temporary prefix, with a throwaway certificate,
# on a free port (plain HTTP) and the next one (TLS), stopped on exit whatever happens.
#
#   bench_nginx_start <config.in> [<taskset prefix...>]
#       fills @PORT@, @TLS_PORT@ and @PREFIX@ in <config.in> and starts nginx; sets bench_nginx_url,
#       bench_nginx_tls_url and bench_nginx_prefix (put the answer files there before calling this:
#       bench_nginx_prepare makes the prefix). Dies when nginx does not answer.
#   bench_nginx_prepare  makes the prefix and the certificate, installs the exit trap
#   bench_build_once <build dir> <target> <root>  builds the bench program when it is missing
#   bench_pin <0|1>  sets bench_client_cpu / bench_server_cpu (taskset prefixes) for --pin

bench_nginx_pid=""
bench_nginx_prefix=""
# What bench_nginx_start asks to know nginx answers (curl arguments, and the path on the plain port).
bench_nginx_probe_path="/"
bench_nginx_probe_args=(-X POST -d x)
bench_nginx_url=""
bench_nginx_tls_url=""

bench_nginx_die() { echo "${bench_name:-bench}: error: $*" >&2; exit 1; }

# bench_stop_pid <pid> <signal>: sends <signal>, waits up to 5 s, then SIGKILL. Nothing for no pid.
bench_stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_nginx_cleanup() {
    bench_stop_pid "$bench_nginx_pid" QUIT
    [[ -z "$bench_nginx_prefix" ]] || rm -rf "$bench_nginx_prefix"
}

bench_nginx_prepare() {
    command -v openssl >/dev/null || bench_nginx_die "openssl is not installed (run scripts/install-deps.sh)"
    command -v curl >/dev/null || bench_nginx_die "curl is not installed (run scripts/install-deps.sh)"
    bench_nginx_prefix="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-nginx.XXXXXX")"
    trap bench_nginx_cleanup EXIT
    trap 'exit 130' INT TERM
    chmod 755 "$bench_nginx_prefix" # nginx's worker runs as nobody when started by root
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$bench_nginx_prefix/key.pem" -out "$bench_nginx_prefix/cert.pem" >/dev/null 2>&1 ||
        bench_nginx_die "openssl could not make a certificate"
    chmod 644 "$bench_nginx_prefix/key.pem" "$bench_nginx_prefix/cert.pem"
}

bench_nginx_start() {
    local config="$1" prefix="$bench_nginx_prefix" nginx_bin port tls_port
    shift
    nginx_bin="$(command -v nginx || true)"
    [[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
    [[ -x "$nginx_bin" ]] || bench_nginx_die "nginx is not installed (run scripts/install-deps.sh)"
    [[ -n "$prefix" ]] || bench_nginx_die "bench_nginx_prepare was not called"
    for _ in $(seq 20); do
        port=$((20000 + RANDOM % 40000))
        tls_port=$((port + 1))
        sed -e "s|@PORT@|$port|g" -e "s|@TLS_PORT@|$tls_port|g" -e "s|@PREFIX@|$prefix|g" "$config" >"$prefix/nginx.conf"
        : >"$prefix/error.log"
        "$@" "$nginx_bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" </dev/null >"$prefix/nginx.out" 2>&1 &
        bench_nginx_pid=$!
        for _ in $(seq 50); do
            kill -0 "$bench_nginx_pid" 2>/dev/null || break
            if curl -sf -o /dev/null --max-time 1 "${bench_nginx_probe_args[@]}" "http://127.0.0.1:$port$bench_nginx_probe_path"; then
                bench_nginx_url="http://127.0.0.1:$port/"
                bench_nginx_tls_url="https://127.0.0.1:$tls_port/"
                echo "${bench_name:-bench}: nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') on $bench_nginx_url and $bench_nginx_tls_url (1 worker)"
                return 0
            fi
            sleep 0.1
        done
        kill -0 "$bench_nginx_pid" 2>/dev/null && { cat "$prefix/error.log" >&2; bench_nginx_die "nginx runs but does not answer on $port"; }
        grep -q "Address already in use" "$prefix/error.log" "$prefix/nginx.out" || { cat "$prefix/error.log" >&2; bench_nginx_die "nginx did not start"; }
    done
    bench_nginx_die "no free port found for nginx"
}

# bench_nginx_answer <file> <head> <entry format> <tail>: an answer of 500 entries, each printf'd from
# <entry format> with its index, between <head> and <tail>.
bench_nginx_answer() {
    local i
    {
        printf '%s' "$2"
        for ((i = 0; i < 500; i++)); do
            [[ $i -eq 0 ]] || printf ','
            # shellcheck disable=SC2059
            printf "$3" "$i"
        done
        printf '%s' "$4"
    } >"$1"
    chmod 644 "$1"
}

# bench_nginx_put_records_answer <file>: Kinesis PutRecords' answer for 500 records, all accepted.
bench_nginx_put_records_answer() {
    bench_nginx_answer "$1" '{"FailedRecordCount":0,"Records":[' \
        '{"SequenceNumber":"4968086987916858614704477159885838446691886386479366%04d","ShardId":"shardId-000000000000"}' \
        '],"EncryptionType":"NONE"}'
}

# bench_nginx_put_records_cbor_answer <file>: the same answer in CBOR (Kinesis's application/x-amz-cbor-1.1),
# written by hand here: a map of 3, the Records array of 500 maps of 2 text members each.
bench_nginx_put_records_cbor_answer() {
    python3 - "$1" <<'PY'
import struct, sys
def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    if n < 256: return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + struct.pack('>H', n)
def text(s):
    b = s.encode()
    return head(3, len(b)) + b
out = head(5, 3) + text('FailedRecordCount') + head(0, 0) + text('Records') + head(4, 500)
for i in range(500):
    out += head(5, 2) + text('SequenceNumber') + text('4968086987916858614704477159885838446691886386479366%04d' % i)
    out += text('ShardId') + text('shardId-000000000000')
out += text('EncryptionType') + text('NONE')
open(sys.argv[1], 'wb').write(out)
PY
    chmod 644 "$1"
}

# bench_build_once <build dir> <target> <root>: builds <target> when <build dir>/bench/<target> is
# missing (configuring the release preset first when <build dir> is its directory).
bench_build_once() {
    local build_dir="$1" target="$2" root="$3"
    [[ -x "$build_dir/bench/$target" ]] && return 0
    echo "${bench_name:-bench}: building $target in $build_dir"
    if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
        [[ "$build_dir" == "$root/build/release" ]] || bench_nginx_die "$build_dir is not a configured build directory"
        (cd "$root" && cmake --preset release >/dev/null)
    fi
    cmake --build "$build_dir" --target "$target"
}

# bench_pin <0|1>: with 1, the client runs on the first CPU and nginx on the last one.
bench_client_cpu=()
bench_server_cpu=()
bench_pin() {
    [[ "$1" -eq 1 ]] || return 0
    local last=$(($(nproc) - 1))
    [[ "$last" -ge 1 ]] || bench_nginx_die "--pin needs at least two CPUs"
    bench_client_cpu=(taskset -c 0)
    bench_server_cpu=(taskset -c "$last")
}
