-- wrk script for scripts/bench-http.sh: every request is an SQS SendMessageBatch POST carrying the
-- 2 KiB body of bench/http/send_message_batch.json (its trailing newline stripped) and the headers a
-- signed request has, with a fixed signature; bench/bench_sqs_http.cpp sends exactly the same.
--   wrk -t1 -c64 -d5s -s bench/http/post.lua http://127.0.0.1:PORT/

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local file = assert(io.open(dir .. "send_message_batch.json", "rb"))
local body = file:read("*a"):gsub("%s+$", "")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessageBatch"
wrk.headers["X-Amz-Date"] = "20260314T092653Z"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/us-east-1/sqs/aws4_request, "
    .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    .. "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

-- No response() callback: wrk would then hand every response to Lua, which slows it down. wrk itself
-- reports "Non-2xx or 3xx responses: N" when any answer was not a success.
