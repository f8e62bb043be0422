#!/usr/bin/env bash
# `sluiced validate` as a user runs it (ctest: sluiced_validate): the example config is valid (exit 0,
# a summary without its secrets), tests/data/sluiced/invalid.toml is refused (exit 1, every error as
# file:line:column), and anything else is a usage error (exit 2).
#
#   bash tests/sluiced_validate.sh <sluiced> <source dir>
set -uo pipefail
sluiced="$1"
src="$2"
fail() { printf 'sluiced_validate: FAILED: %s\n' "$*" >&2; exit 1; }

# The example reads five secrets from the environment; none may appear in what it prints.
out="$(SLUICED_TOKEN=tok-s3cr3t ORDERS_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/1/orders-s3cr3t \
       PULSAR_TOKEN=pulsar-s3cr3t OPENSEARCH_PASSWORD=os-s3cr3t WEBHOOK_TOKEN=hook-s3cr3t \
       "$sluiced" validate "$src/examples/sluiced.toml" 2>&1)"
rc=$?
[[ $rc -eq 0 ]] || fail "the example exited $rc: $out"
grep -q '^3 sources, 1 queue, 12 sinks$' <<<"$out" || fail "no summary line: $out"
grep -q '^sink orders: sqs, disk buffer, dead letters to dead_letters$' <<<"$out" || fail "no sink line: $out"
if grep -q 's3cr3t' <<<"$out"; then fail "a secret was printed: $out"; fi

# Without those variables the same file is invalid, and the errors name the variables.
out="$(env -u SLUICED_TOKEN -u ORDERS_QUEUE_URL -u PULSAR_TOKEN "$sluiced" validate "$src/examples/sluiced.toml" 2>&1)"
rc=$?
[[ $rc -eq 1 ]] || fail "the example without its variables exited $rc: $out"
grep -q "sluiced.toml:16:16: environment variable 'SLUICED_TOKEN' is not set" <<<"$out" || fail "$out"

# The quick-start configuration is valid as it is.
"$sluiced" validate "$src/examples/sluiced-local.toml" >/dev/null || fail "examples/sluiced-local.toml is not valid"

bad="$src/tests/data/sluiced/invalid.toml"
out="$("$sluiced" validate "$bad" 2>&1)"
rc=$?
[[ $rc -eq 1 ]] || fail "the invalid file exited $rc: $out"
expected="$bad:4:8: 'port' of source 'api' must be between 1 and 65535, not 80800
$bad:5:9: source 'api' names queue 'mian', which is not defined; did you mean 'main'?
$bad:8:14: 'discipline' of queue 'main' must be one of \"fifo\", \"lifo\", \"priority\", not \"lifp\"; did you mean \"lifo\"?
$bad:13:20: route 1 of queue 'main' names sink 'nowhere', which is not defined
$bad:15:1: sink 'orders' needs 'queue_url' (the queue's URL)
$bad:17:1: unknown key 'queue_ulr' in sink 'orders'; did you mean 'queue_url'?
$bad:18:15: sink 'orders' cannot be its own dead-letter sink
$bad:21:11: 'max_age' of [batch] of sink 'orders' must be a duration such as \"200ms\", \"5s\", \"1m\" or \"2h\", not \"200 ms\"
$bad: 8 errors"
[[ "$out" == "$expected" ]] || fail "unexpected output for the invalid file:
$out
--- expected:
$expected"

"$sluiced" --help | grep -q -- '--config FILE' || fail "--help does not describe --config"
# Running an invalid file starts nothing: its errors, exit 1.
out="$(env -u SLUICED_TOKEN "$sluiced" --config "$src/tests/data/sluiced/invalid.toml" --state-dir /nonexistent/state 2>&1)"
rc=$?
[[ $rc -eq 1 ]] || fail "--config with an invalid file exited $rc: $out"
grep -q "invalid.toml: 8 errors" <<<"$out" || fail "--config with an invalid file did not list its errors: $out"
for args in "" "run" "validate" "validate a b" "--config" "--config a --bogus b"; do
    # shellcheck disable=SC2086
    "$sluiced" $args >/dev/null 2>&1
    rc=$?
    [[ $rc -eq 2 ]] || fail "'sluiced $args' exited $rc, not 2 (usage error)"
done
echo "sluiced_validate: 1 passed, 0 failed"
