#!/usr/bin/env python3
"""Writes the seed corpora of sluice's text and structured fuzz targets (fuzz/corpus/<target>/) and the
reproducers of the issue 14 section 2 and 3 defects (fuzz/regressions/<target>/). The disk_recovery
seeds come from fuzz/tools/disk_seeds.cpp. Run from the repository root: python3 fuzz/tools/make_seeds.py
"""

import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RS = b"\x1e"


def write(kind, target, name, data):
    path = ROOT / kind / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def fields(*parts):
    return RS.join(p.encode() if isinstance(p, str) else p for p in parts)


def chunk(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<H", len(b)) + b


# --- aws_error: status, header lines, body ---------------------------------------------------------
for name, status, headers, body in [
    ("json-sqs", "400", "x-amzn-RequestId: 5f8b1d4e\nx-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender",
     '{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}'),
    ("json-errortype", "400", "x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/\nDate: Sun, 06 Nov 1994 08:49:37 GMT",
     '{"code":"Throttling","Message":"Rate exceeded \\u00e9 \\ud83d\\ude80"}'),
    ("xml-query", "403", "x-amz-request-id: ABC",
     "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>Value 'body' at 'messageBody' failed"
     "</Message></Error><RequestId>42</RequestId></ErrorResponse>"),
    ("xml-s3", "503", "Date: Sunday, 06-Nov-94 08:49:37 GMT",
     "<Error><Code>SlowDown</Code><Message>&lt;Please&gt; &#233;&#x41;</Message><RequestId>R</RequestId></Error>"),
    ("html", "502", "Date: Sun Nov  6 08:49:37 1994", "<html><body>Bad Gateway</body></html>"),
    ("skew", "403", "", '{"__type":"InvalidSignatureException","message":"Signature expired: 20260101T000000Z is now earlier than"}'),
]:
    write("corpus", "aws_error", name, fields(status, headers, body))
write("regressions", "aws_error", "code-with-line-break",
      fields("400", "x-amzn-ErrorType: Throttling\r\nInjected: yes", '{"__type":"ns#Bad\\r\\nFake log line"}'))
write("regressions", "aws_error", "date-year-9999", fields("400", "Date: Fri, 31 Dec 9999 23:59:59 GMT", "{}"))

# --- sqs_response ------------------------------------------------------------------------------------
def message(body, attrs=(), flags=0, extra=b""):
    out = chunk(body) + bytes([len(attrs)])
    for n, t, v in attrs:
        out += chunk(n) + bytes([t]) + chunk(v)
    return out + bytes([flags]) + extra

def response_generated(outcomes):
    out = b"\x00"
    for o, code, msg, fault in outcomes:
        out += bytes([o]) + chunk(code) + chunk(msg) + bytes([fault])
    return out

msgs = message('{"order":42}', [("trace", 0, "abc"), ("blob", 2, b"\x00\x01\xff")], 1, struct.pack("<H", 105)) + \
       message("caf\u00e9 \U0001F680 \"q\" \\ \t\n") + message("fifo", [], 6, chunk("group") + chunk("dedup"))
write("corpus", "sqs_response", "three-messages-generated",
      bytes([2]) + msgs + chunk("https://sqs.eu-west-1.amazonaws.com/123/q") +
      response_generated([(0, "", "", 0), (1, "InvalidParameterValue", "bad", 1), (1, "ThrottlingException", "slow", 0)]))
write("corpus", "sqs_response", "raw-response",
      bytes([1]) + message("x") + message("y") + chunk("http://127.0.0.1:9324/000000000000/q") + b"\x01" +
      b'{"Successful":[{"Id":"0","MessageId":"m","MD5OfMessageBody":"9dd4e461268c8034f5c8564e155c67a6"}],'
      b'"Failed":[{"Id":"1","SenderFault":false,"Code":"InternalError","Message":"try again"}]}')
write("regressions", "sqs_response", "entry-code-with-line-break",
      bytes([0]) + message("x") + chunk("q") +
      response_generated([(1, "Bad\r\nInjected: line", "m", 1)]))

# --- aws_config: config, credentials, profile, AWS_REGION, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS_PROFILE
config = """[default]
region = eu-west-1
services = local
# a comment
[profile dev]
region=us-east-1 ; comment
endpoint_url = http://localhost:4566
s3 =
  addressing_style = path
[services local]
sqs =
  endpoint_url = http://127.0.0.1:9324/base
"""
credentials = "[default]\naws_access_key_id = AKID\naws_secret_access_key = secret\n[dev]\nregion = ap-south-1\n"
write("corpus", "aws_config", "profiles-and-services", fields(config, credentials, "", "", "", "", ""))
write("corpus", "aws_config", "env-endpoint", fields(config, credentials, "dev", "eu-central-1",
                                                    "https://user:pw@[::1]:8443/x?y", "", ""))
write("corpus", "aws_config", "syntax-error", fields("[default\nregion = x\n", "", "", "", "", "", ""))
write("regressions", "aws_config", "endpoint-control-bytes-in-path",
      fields("[default]\nregion = eu-west-1\n", "", "", "", "http://h/a\x01b", "", ""))

# --- credentials: JSON, STS XML, status, secret, FULL_URI, RELATIVE_URI ----------------------------
creds_json = '{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI","Token":"IQoJb3","Expiration":"2026-11-22T10:00:00Z"}'
sts = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
       "<AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s&amp;cret</SecretAccessKey><SessionToken>t</SessionToken>"
       "<Expiration>2026-11-22T10:00:00.123+01:00</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
       "</AssumeRoleWithWebIdentityResponse>")
write("corpus", "credentials", "valid", fields(creds_json, sts, "200", "the-token", "", "/v2/credentials/abc"))
write("corpus", "credentials", "errors",
      fields('{"code":"AccessDenied","message":"token the-token is bad"}',
             "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad the-token</Message></Error></ErrorResponse>",
             "400", "the-token", "http://[fd00:ec2::23]/creds", ""))
write("corpus", "credentials", "full-uri", fields("{}", "", "500", "", "https://user:pw@example.com:443/creds", ""))
write("regressions", "credentials", "expiration-year-9999",
      fields('{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"9999-12-31T23:59:59Z"}',
             "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
             "<Expiration>0001-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>",
             "200", "", "http://169.254.170.2/x", ""))

# --- sigv4 --------------------------------------------------------------------------------------------
def sigv4(flags, expires, time, method, path, region, service, body, query, headers):
    out = bytes([flags]) + struct.pack("<HI", expires, time)
    out += chunk(method) + chunk(path) + chunk(region) + chunk(service) + chunk(body)
    out += bytes([len(query)]) + b"".join(chunk(n) + chunk(v) for n, v in query)
    out += bytes([len(headers)]) + b"".join(chunk(n) + chunk(v) for n, v in headers)
    return out

write("corpus", "sigv4", "post-json", sigv4(8, 0, 700000000, "POST", "/", "us-east-1", "sqs", '{"QueueUrl":"q"}', [],
                                            [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AmazonSQS.SendMessageBatch")]))
write("corpus", "sigv4", "presign-s3", sigv4(1 | 2 | 4, 225, 1, "GET", "/bucket/a%20b/../c", "eu-west-1", "s3", "", [("list-type", "2"), ("prefix", "a b/~")],
                                             [("X-Amz-Meta-A", "  x   y  "), ("x-amz-meta-a", "z")]))
write("corpus", "sigv4", "unsigned-payload", sigv4(16 | 32 | 8, 0, 5, "PUT", "/o", "cn-north-1", "s3", "UNSIGNED-PAYLOAD", [], []))
write("regressions", "sigv4", "header-name-with-semicolon",
      sigv4(0, 0, 5, "POST", "/", "us-east-1", "sqs", "", [], [("x-a;x-b", "v"), ("x-c:", "w"), ("x-d\r\nInjected", "1")]))

# --- sanitizers: recipe, secret, text ------------------------------------------------------------------
for recipe in range(0, 48, 5):
    write("corpus", "sanitizers", f"recipe-{recipe}", bytes([recipe, 24]) + bytes(range(65, 89)) + b"some text: here = there\r\n")
write("regressions", "sanitizers", "basic-auth-padding", bytes([0, 20]) + bytes(range(100, 120)) + b"=")
write("regressions", "sanitizers", "userinfo-last-at", bytes([1 | 8, 16]) + bytes(range(1, 17)) + b"@user")

# --- http_request: a client's byte stream ----------------------------------------------------------------
for name, stream in [
    ("get", "GET /a%20b?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n"),
    ("post-length", "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":[1,2]}"),
    ("chunked-trailers", "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5;ext=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"),
    ("pipelined", "GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                  "OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
    ("expect-continue", "PUT /o HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
    ("refused", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
    ("routes", "GET /items/a%2Fb/parts/7 HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS /items HTTP/1.1\r\nHost: h\r\n\r\n"
               "DELETE /items HTTP/1.1\r\nHost: h\r\n\r\nPOST /items/%zz HTTP/1.1\r\nHost: h\r\n\r\n"
               "PATCH /items/special HTTP/1.1\r\nHost: h\r\n\r\nGET /y/x HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("smuggling", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
]:
    write("corpus", "http_request", name, stream.encode())

# --- formats: records, one a line (declared columns i d b s j ms us) ---------------------------------------
write("corpus", "formats", "declared",
      b'{"i":1,"d":2.5,"b":true,"s":"x","j":{"k":[1]},"ms":"2026-01-02T03:04:05.678Z","us":"2026-01-02T03:04:05.678901+01:00"}\n'
      b'{"i":-9223372036854775808,"d":1e308,"b":false,"s":"caf\xc3\xa9","j":null,"ms":0,"us":1}\n'
      b'{"i":2,"s":"a,b\\"c\\n"}\n{"i":"not a number"}\nnot json\n{"i":3,"unknown":1}')
write("corpus", "formats", "inferred", b'{"a":1,"b":"x"}\n{"a":2.5,"b":null,"c":true}\n{"a":3,"b":"y"}\n[1,2]\n')
write("corpus", "formats", "timestamp", b"1999-12-31 23:59:60.123456789-23:59")

# --- aws_services: selector, text ------------------------------------------------------------------------
for name, selector, text in [
    ("item-json", 0, '{"id":"a","n":1.50,"ss":["x","y"],"ns":[1,2],"b":"AAEC","m":{"l":[true,null,{"z":-0}]}}'),
    ("item-typed", 1, '{"id":{"S":"a"},"n":{"N":"1e3"},"l":{"L":[{"BOOL":true},{"NULL":true}]},"bs":{"BS":["AA=="]}}'),
    ("decimal", 2, "-0012.3400e-7"),
    ("firehose-response", 3, '{"FailedPutCount":1,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"ServiceUnavailableException",'
                             '"ErrorMessage":"slow"},{"RecordId":"b"},{"RecordId":"c"}]}'),
    ("dynamodb-response", 7, '{"UnprocessedItems":{"orders":[{"PutRequest":{"Item":{"id":{"N":"1"}}}}]}}'),
    ("logs-response", 11, '{"nextSequenceToken":"1","rejectedLogEventsInfo":{"tooNewLogEventStartIndex":3,"tooOldLogEventEndIndex":1,'
                          '"expiredLogEventEndIndex":0}}'),
    ("kinesis-response", 15, '{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ErrorCode":'
                             '"ProvisionedThroughputExceededException","ErrorMessage":"Rate\\r\\nexceeded"},{"SequenceNumber":"2"},{}]}'),
]:
    write("corpus", "aws_services", name, bytes([selector]) + text.encode())

# --- s3_response: generated ListParts page, or a raw body ----------------------------------------------
def s3_part(number, size, etag, checksum):
    return struct.pack("<IQ", number, size) + chunk(etag) + chunk(checksum)

write("corpus", "s3_response", "generated-page",
      b"\x00\x03" + s3_part(1, 8388608, '"9b2cf535f27731c974343645a3985328"', "AAAAAA==") +
      s3_part(2, 5, '"a&b<c>"', "") + s3_part(3, 0, "", "yZRlqg==") + b"\x01" + struct.pack("<I", 3))
write("corpus", "s3_response", "list-parts",
      b"\x01" + b'<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
      b"<Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker>"
      b"<NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>"
      b"<Part><PartNumber>1</PartNumber><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag>"
      b"<Size>5242880</Size><ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part>"
      b"<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>1</Size></Part></ListPartsResult>")
write("corpus", "s3_response", "create-upload",
      b"\x01" + b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
      b"</InitiateMultipartUploadResult>")
write("corpus", "s3_response", "error-in-200",
      b"\x01" + b"<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error.\r\n"
      b"Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId></Error>")

# --- objects_state: raw journal entry / state file, generated journal entries, generated state ----------
def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])

write("corpus", "objects_state", "raw-open", b"\x00\x01O" + varint(300) + varint(2) + b"p1" + varint(8) + b"logs/a.gz" [:8]
      + struct.pack("<q", 1700000000000))
write("corpus", "objects_state", "raw-state", b"\x00" +
      b"sluice-s3-upload 1 7 8388608 bucket logs/2026/a%20b.json.gz VXBsb2Fk 00000000\n"
      b"part 1 8388608 AAAAAA%3D%3D %229b2c%22 00000000\n")
write("corpus", "objects_state", "journal", b"\x01" + struct.pack("<Q", 42) + chunk("dt=2026-01-01") + chunk("logs/x.json") +
      struct.pack("<q", 1700000000000) + b'{"record":1}')
write("corpus", "objects_state", "upload", b"\x02" + struct.pack("<QQ", 7, 8388608) + chunk("bucket") + chunk("a b/c") +
      chunk("id") + b"\x04" +
      b"".join(struct.pack("<IQ", n, 100 + n) + chunk("AAAAAA==") + chunk('"etag%d"' % n) for n in (1, 2, 0, 2)) +
      struct.pack("<I", 0xFFFFFFFF))
