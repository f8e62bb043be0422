#!/usr/bin/env node
// A loopback OpenSearch/Elasticsearch `_bulk` endpoint for sluice's tests. No Elasticsearch or
// OpenSearch server can run on these machines (Debian packages neither; the npm packages that start
// one download a server and need Java), so this follows the _bulk request and response specification
// (elastic/elasticsearch-specification: _global/bulk/BulkRequest.ts, BulkResponse.ts, types.ts):
//
//   request:  NDJSON, every line ending with "\n" (the last one included); an action line
//             {"index"|"create"|"update"|"delete": {"_index"?, "_id"?, ...}}, then (not for delete)
//             the source line; POST or PUT /_bulk or /<index>/_bulk (the default _index);
//             Content-Type x-ndjson (application/x-ndjson, or application/vnd.elasticsearch+x-ndjson
//             from the Elasticsearch client); Content-Encoding gzip allowed.
//   response: {"took", "errors", "items": [{"<action>": {"_index", "_id", "_version", "result",
//             "_shards", "_seq_no", "_primary_term", "status"}} | {"<action>": {"_index", "_id",
//             "status", "error": {"type", "reason"}}}]}, one item per action in request order; a
//             malformed body is a whole-request 400 {"error": {"type", "reason"}, "status"}.
//
// It stores documents by index and _id (create on an existing _id is a 409), records every request
// (its lines, decompressed) so the tests can compare clients line by line and count every record by
// id, and fails on purpose, configured over a control channel on the same port:
//   POST /_fixture/config  {"auth": "<Authorization value>", "request_statuses": [429, 500, ...],
//                           "item_429": {"<doc id>": times}, "item_400": ["<doc id>"],
//                           "max_body_bytes": n}    (the document id is the source's "id" field)
//   POST /_fixture/reset   forget documents, requests and faults
//   GET  /_fixture/state   {"documents": {index: {_id: source}}, "requests": [{method, path,
//                           content_type, content_encoding, authorization_ok, status, lines}]}
// Every answer carries X-Elastic-Product: Elasticsearch (the Elasticsearch client checks it).
//
//   node bulk-fixture.js        (BULK_FIXTURE_STATE_FILE=<file>: {"port"} written once listening)

'use strict';

const http = require('node:http');
const zlib = require('node:zlib');
const fs = require('node:fs');

let documents = {};
let requests = [];
let config = {};
let autoId = 0;
let seqNo = 0;

function reset() {
    documents = {};
    requests = [];
    config = { request_statuses: [], item_429: {}, item_400: [], max_body_bytes: 0, auth: '' };
    autoId = 0;
    seqNo = 0;
}
reset();

function send(res, status, body, type = 'application/json') {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(text),
        'X-Elastic-Product': 'Elasticsearch',
    });
    res.end(text);
}

function errorBody(status, type, reason) {
    return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

// Splits and checks the body; throws a reason for a body Elasticsearch refuses as a whole.
function parseActions(text, defaultIndex) {
    if (text.length === 0) throw new Error('request body is required');
    if (!text.endsWith('\n')) throw new Error('The bulk request must be terminated by a newline [\\n]');
    const lines = text.slice(0, -1).split('\n');
    const actions = [];
    for (let i = 0; i < lines.length; ) {
        let action;
        try {
            action = JSON.parse(lines[i]);
        } catch (e) {
            throw new Error(`Malformed action/metadata line [${i + 1}], expected START_OBJECT`);
        }
        if (action === null || typeof action !== 'object' || Array.isArray(action) || Object.keys(action).length !== 1)
            throw new Error(`Malformed action/metadata line [${i + 1}], expected a simple object with one key`);
        const kind = Object.keys(action)[0];
        if (!['index', 'create', 'update', 'delete'].includes(kind))
            throw new Error(`Malformed action/metadata line [${i + 1}], expected one of [create, delete, index, update] but found [${kind}]`);
        const meta = action[kind] || {};
        const index = meta._index ?? defaultIndex;
        if (!index) throw new Error(`Validation Failed: 1: index is missing for action line [${i + 1}];`);
        const a = { kind, index, id: meta._id, line: i + 1 };
        i += 1;
        if (kind !== 'delete') {
            if (i >= lines.length) throw new Error(`the action on line [${i}] has no source line`);
            try {
                a.source = JSON.parse(lines[i]);
            } catch (e) {
                throw new Error(`Malformed source line [${i + 1}]: not JSON`);
            }
            if (a.source === null || typeof a.source !== 'object' || Array.isArray(a.source))
                throw new Error(`Malformed source line [${i + 1}]: not an object`);
            a.sourceText = lines[i];
            i += 1;
        }
        actions.push(a);
    }
    return { lines, actions };
}

function failedItem(a, status, type, reason) {
    return { [a.kind]: { _index: a.index, _id: a.id ?? null, status, error: { type, reason, index: a.index } } };
}

function applyAction(a) {
    const docId = a.source && typeof a.source.id !== 'undefined' ? String(a.source.id) : undefined;
    if (docId !== undefined && (config.item_429[docId] ?? 0) > 0) {
        config.item_429[docId] -= 1;
        return failedItem(a, 429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation');
    }
    if (docId !== undefined && config.item_400.includes(docId))
        return failedItem(a, 400, 'mapper_parsing_exception',
            `failed to parse field [n] of type [long] in document with id '${a.id}'. Preview of field's value: 'x'`);
    const index = (documents[a.index] ??= {});
    if (a.kind === 'delete') {
        const found = a.id !== undefined && a.id in index;
        if (found) delete index[a.id];
        return { delete: { _index: a.index, _id: a.id, result: found ? 'deleted' : 'not_found', status: found ? 200 : 404 } };
    }
    if (a.id === undefined) a.id = `auto-${++autoId}`;
    const exists = a.id in index;
    if (a.kind === 'create' && exists)
        return failedItem(a, 409, 'version_conflict_engine_exception', `[${a.id}]: version conflict, document already exists`);
    if (a.kind === 'update') {
        if (!exists) return failedItem(a, 404, 'document_missing_exception', `[${a.id}]: document missing`);
        index[a.id] = { ...index[a.id], ...(a.source.doc ?? {}) };
    } else {
        index[a.id] = a.source;
    }
    return {
        [a.kind]: {
            _index: a.index, _id: a.id, _version: 1, result: exists ? 'updated' : 'created',
            _shards: { total: 1, successful: 1, failed: 0 }, _seq_no: seqNo++, _primary_term: 1,
            status: exists ? 200 : 201,
        },
    };
}

function handleBulk(req, res, raw, defaultIndex) {
    const record = {
        method: req.method, path: req.url, content_type: req.headers['content-type'] ?? '',
        content_encoding: req.headers['content-encoding'] ?? '', authorization_ok: true, status: 0, lines: [],
    };
    requests.push(record);
    const answer = (status, body) => {
        record.status = status;
        send(res, status, body);
    };
    if (config.auth && req.headers.authorization !== config.auth) {
        record.authorization_ok = false;
        return answer(401, errorBody(401, 'security_exception', 'unable to authenticate user [writer] for REST request [/_bulk]'));
    }
    if (config.request_statuses.length > 0) {
        const status = config.request_statuses.shift();
        const type = status === 429 ? 'circuit_breaking_exception' : status === 413 ? 'content_too_long' : 'internal_server_error';
        return answer(status, errorBody(status, type, 'injected by the fixture'));
    }
    if (!/x-ndjson/.test(record.content_type))
        return answer(406, errorBody(406, 'media_type_header_exception', `Content-Type header [${record.content_type}] is not supported`));
    let body = raw;
    if (record.content_encoding === 'gzip') {
        try {
            body = zlib.gunzipSync(raw);
        } catch (e) {
            return answer(400, errorBody(400, 'parse_exception', 'the gzip body does not decompress'));
        }
    } else if (record.content_encoding) {
        return answer(400, errorBody(400, 'illegal_argument_exception', `unsupported Content-Encoding ${record.content_encoding}`));
    }
    if (config.max_body_bytes > 0 && body.length > config.max_body_bytes)
        return answer(413, errorBody(413, 'content_too_long', 'request body is too large'));
    const text = body.toString('utf8');
    record.lines = text.split('\n');
    let parsed;
    try {
        parsed = parseActions(text, defaultIndex);
    } catch (e) {
        return answer(400, errorBody(400, 'illegal_argument_exception', e.message));
    }
    const started = Date.now();
    const items = parsed.actions.map(applyAction);
    const errors = items.some((item) => Object.values(item)[0].status >= 300);
    answer(200, { took: Date.now() - started, errors, items });
}

function handleControl(req, res, raw) {
    if (req.method === 'POST' && req.url === '/_fixture/reset') {
        reset();
        return send(res, 200, { reset: true });
    }
    if (req.method === 'POST' && req.url === '/_fixture/config') {
        const c = JSON.parse(raw.toString('utf8') || '{}');
        config = { ...config, ...c };
        return send(res, 200, { config });
    }
    if (req.method === 'GET' && req.url === '/_fixture/state') return send(res, 200, { documents, requests });
    return send(res, 404, errorBody(404, 'not_found', 'no such fixture route'));
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const path = req.url.split('?')[0];
        if (path.startsWith('/_fixture/')) return handleControl(req, res, raw);
        const bulk = path.match(/^\/(?:([^/_][^/]*)\/)?_bulk$/);
        if (bulk && (req.method === 'POST' || req.method === 'PUT')) return handleBulk(req, res, raw, bulk[1]);
        if ((req.method === 'GET' || req.method === 'HEAD') && path === '/')
            return send(res, 200, { name: 'bulk-fixture', cluster_name: 'sluice', version: { number: '8.19.2' }, tagline: 'You Know, for Search' });
        return send(res, 404, errorBody(404, 'not_found', `no handler for ${req.method} ${path}`));
    });
});

server.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    if (process.env.BULK_FIXTURE_STATE_FILE) {
        const file = process.env.BULK_FIXTURE_STATE_FILE;
        fs.writeFileSync(`${file}.tmp`, JSON.stringify({ port }));
        fs.renameSync(`${file}.tmp`, file);
    }
    console.log(`bulk fixture listening on 127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'])
    process.on(signal, () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
    });
