-- wrk script for scripts/bench-http-server.sh: every request is a MiniFirehose message POST, a JSON
-- object of about 200 bytes, to /minifirehoses/bench/message, sent to sluice's bench_http_server and
-- to nginx alike.
--   wrk -t1 -c64 -d5s --latency -s bench/http/message.lua http://127.0.0.1:PORT/minifirehoses/bench/message

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"order 12345 shipped to the warehouse in Lyon","tenant":"acme","ts":"2026-03-14T09:26:53Z",'
    .. '"attributes":{"priority":3,"retries":0,"tags":["a","b","c"]},"pad":"0123456789abcdef0123456789abcdef"}'

-- No response() callback (it would slow wrk down); wrk reports "Non-2xx or 3xx responses: N".
