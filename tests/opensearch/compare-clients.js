#!/usr/bin/env node
// Checks sluice's _bulk sink against the official JavaScript clients' bulk helpers
// (@elastic/elasticsearch 8 and @opensearch-project/opensearch 3, pinned by package-lock.json), all
// pointed at the same loopback fixture (bulk-fixture.js): for the same documents they must send the
// same lines (the same actions, _index, _id and sources, every line ending with "\n", an x-ndjson
// Content-Type, gzip when asked), store the same documents, and treat the same answers the same way
// (per-item 429 retried the same number of times, per-item 400 reported as failed for the same
// documents, a whole-request 503 retried, refused credentials storing nothing). Where the helpers
// differ from sluice by design (a whole-request 429, 500 or 413 makes them give up the whole bulk;
// sluice retries with backoff, or splits on 413) it checks sluice's way against the fixture and
// prints the difference.
//
//   node compare-clients.js <fixture.json> <bulk_send binary>

'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client: ElasticClient } = require('@elastic/elasticsearch');
const { Client: OpenSearchClient } = require('@opensearch-project/opensearch');

const [fixtureFile, bulkSend] = process.argv.slice(2);
if (!fixtureFile || !bulkSend) {
    console.error('usage: compare-clients.js <fixture.json> <bulk_send binary>');
    process.exit(2);
}
const endpoint = `http://127.0.0.1:${JSON.parse(fs.readFileSync(fixtureFile, 'utf8')).port}`;
let passed = 0;
let failed = 0;

function check(ok, what) {
    if (ok) {
        passed += 1;
    } else {
        failed += 1;
        console.log(`FAIL: ${what}`);
    }
}

// JSON with sorted keys: the same document however a client spaced or ordered it.
function canonical(v) {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
    if (v !== null && typeof v === 'object')
        return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
    return JSON.stringify(v);
}

async function control(method, route, body) {
    const res = await fetch(`${endpoint}/_fixture/${route}`, { method, body: body ? JSON.stringify(body) : undefined });
    if (!res.ok) throw new Error(`fixture ${route}: HTTP ${res.status}`);
    return res.json();
}

function makeDocs(n) {
    const services = ['checkout', 'search', 'billing'];
    const days = ['2026-12-06T10:00:00Z', '2026-12-07T23:59:59.500+00:00', '2026-12-31T22:00:00-05:00'];
    const docs = [];
    for (let i = 0; i < n; i += 1)
        docs.push({ id: `d${i}`, service: services[i % 3], '@timestamp': days[i % days.length], n: i, msg: `event "${i}" \u00e9\\` });
    return docs;
}

// What sluice's template "logs-{service}-%Y.%m.%d" with the date of "@timestamp" in UTC names.
function indexFor(doc) {
    const d = new Date(doc['@timestamp']);
    const two = (x) => String(x).padStart(2, '0');
    return `logs-${doc.service}-${d.getUTCFullYear()}.${two(d.getUTCMonth() + 1)}.${two(d.getUTCDate())}`;
}

// ---- the three senders: each returns {failedIds: Set, error: string|null} -----------------------

function sendSluice(docs, s) {
    const file = path.join(os.tmpdir(), `bulk-docs-${process.pid}.ndjson`);
    fs.writeFileSync(file, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    const args = [endpoint, file];
    if (s.gzip) args.push('gzip');
    if (s.action === 'create') args.push('create');
    const env = { ...process.env };
    if (s.auth) {
        env.BULK_USERNAME = s.auth.username;
        env.BULK_PASSWORD = s.auth.password;
    }
    const out = execFileSync(bulkSend, args, { env, encoding: 'utf8', timeout: 60_000 });
    fs.unlinkSync(file);
    const failedIds = new Set();
    const messages = [];
    for (const line of out.split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        if (r.kind !== 'ok') {
            failedIds.add(docs[r.i].id);
            messages.push(r.message);
        }
    }
    return { failedIds, error: null, messages };
}

async function sendHelper(Client, docs, s) {
    const options = { node: endpoint, maxRetries: 3 };
    if (s.auth) options.auth = s.auth;
    if (s.gzip) options.compression = Client === ElasticClient ? true : 'gzip';
    const client = new Client(options);
    const failedIds = new Set();
    let error = null;
    try {
        await client.helpers.bulk({
            datasource: docs,
            onDocument: (doc) => ({ [s.action]: { _index: indexFor(doc), _id: doc.id } }),
            onDrop: (d) => failedIds.add(d.document.id),
            retries: 3,
            wait: 10,
            concurrency: 1,
            flushInterval: 100,
        });
    } catch (e) {
        error = e.name || String(e);
        for (const d of docs) failedIds.add(d.id);
    }
    await client.close();
    return { failedIds, error };
}

const senders = {
    sluice: (docs, s) => sendSluice(docs, s),
    elasticsearch: (docs, s) => sendHelper(ElasticClient, docs, s),
    opensearch: (docs, s) => sendHelper(OpenSearchClient, docs, s),
};

// ---- what a run left in the fixture ------------------------------------------------------------

function summarize(state) {
    const actions = []; // canonical "action + source" per action line received
    const perId = {}; // actions received per document id (retries included)
    let framingOk = true;
    let typeOk = true;
    const encodings = new Set();
    let authOk = true;
    for (const r of state.requests) {
        authOk &&= r.authorization_ok;
        encodings.add(r.content_encoding);
        if (r.lines.length === 0) continue;
        typeOk &&= /x-ndjson/.test(r.content_type);
        framingOk &&= r.lines[r.lines.length - 1] === ''; // the body ended with "\n"
        for (let i = 0; i + 1 < r.lines.length; i += 2) {
            const action = JSON.parse(r.lines[i]);
            const kind = Object.keys(action)[0];
            const source = JSON.parse(r.lines[i + 1]);
            actions.push(canonical({ kind, _index: action[kind]._index, _id: action[kind]._id, source }));
            perId[source.id] = (perId[source.id] ?? 0) + 1;
        }
    }
    const stored = {};
    for (const [index, docs] of Object.entries(state.documents))
        for (const [id, source] of Object.entries(docs)) stored[`${index}/${id}`] = canonical(source);
    return { actions: actions.sort(), perId, framingOk, typeOk, encodings: [...encodings].sort().join(','), authOk, stored, requests: state.requests.length };
}

async function run(name, docs, s, who = Object.keys(senders)) {
    const out = {};
    for (const client of who) {
        await control('POST', 'reset');
        await control('POST', 'config', s.config ?? {});
        const result = await senders[client](docs, s);
        out[client] = { ...result, ...summarize(await control('GET', 'state')) };
    }
    return out;
}

const same = (a, b) => canonical(a) === canonical(b);
const sorted = (set) => [...set].sort();

function compare(name, results, keys) {
    const [first, ...rest] = Object.keys(results);
    for (const other of rest)
        for (const key of keys) {
            const a = key === 'failedIds' ? sorted(results[first][key]) : results[first][key];
            const b = key === 'failedIds' ? sorted(results[other][key]) : results[other][key];
            check(same(a, b), `${name}: ${first} and ${other} differ in ${key}: ${JSON.stringify(a).slice(0, 300)} vs ${JSON.stringify(b).slice(0, 300)}`);
        }
    for (const [client, r] of Object.entries(results)) {
        check(r.framingOk, `${name}: ${client} sent a body whose last line has no "\\n"`);
        check(r.typeOk, `${name}: ${client} sent a Content-Type without x-ndjson`);
    }
}

async function main() {
    const docs = makeDocs(90);
    const allIds = docs.map((d) => d.id);

    // The same lines, the same documents stored: index and create, plain and gzip, basic auth.
    for (const s of [
        { name: 'index', action: 'index' },
        { name: 'create', action: 'create' },
        { name: 'index, gzip', action: 'index', gzip: true },
        { name: 'basic auth', action: 'index', auth: { username: 'writer', password: 's3cret!' },
          config: { auth: `Basic ${Buffer.from('writer:s3cret!').toString('base64')}` } },
    ]) {
        const r = await run(s.name, docs, s);
        compare(s.name, r, ['actions', 'stored', 'failedIds', 'encodings', 'authOk']);
        check(Object.keys(r.sluice.stored).length === docs.length, `${s.name}: sluice stored ${Object.keys(r.sluice.stored).length} of ${docs.length}`);
        check(r.sluice.actions.length === docs.length, `${s.name}: sluice sent ${r.sluice.actions.length} actions for ${docs.length} documents`);
        if (s.gzip) check(r.sluice.encodings === 'gzip', `${s.name}: sluice's Content-Encoding was ${r.sluice.encodings}`);
    }

    // Per-item answers: 429 retried (twice each here), 400 reported failed; create twice is a 409.
    const item429 = {};
    for (let i = 0; i < docs.length; i += 7) item429[`d${i}`] = 2;
    const item400 = allIds.filter((_, i) => i % 11 === 5);
    const faults = { name: 'per-item 429 and 400', action: 'index', config: { item_429: item429, item_400: item400 } };
    const r = await run(faults.name, docs, faults);
    compare(faults.name, r, ['perId', 'stored', 'failedIds']);
    check(same(sorted(r.sluice.failedIds), [...item400].sort()), `${faults.name}: sluice failed ${sorted(r.sluice.failedIds)}`);
    check(r.sluice.perId.d7 === 3, `${faults.name}: d7 (429 twice) was sent ${r.sluice.perId.d7} times`);
    for (const m of r.sluice.messages)
        check(/mapper_parsing_exception/.test(m) && !/Preview of field/.test(m), `${faults.name}: sluice's reason "${m}"`);

    // A whole-request 503 is retried by everyone; refused credentials store nothing and fail everything.
    const r503 = await run('whole-request 503', docs, { action: 'index', config: { request_statuses: [503] } });
    compare('whole-request 503', r503, ['stored', 'failedIds']);
    check(Object.keys(r503.sluice.stored).length === docs.length, 'whole-request 503: sluice did not store everything');
    const denied = { action: 'index', auth: { username: 'writer', password: 'wrong' }, config: { auth: 'Basic d3JpdGVyOnMzY3JldCE=' } };
    const r401 = await run('refused credentials', docs, denied);
    compare('refused credentials', r401, ['stored', 'failedIds']);
    check(same(sorted(r401.sluice.failedIds), [...allIds].sort()), 'refused credentials: sluice did not fail every document');
    check(r401.sluice.messages.every((m) => /authentication failed/.test(m) && !/wrong/.test(m)), 'refused credentials: sluice\'s message');

    // By design sluice retries a whole-request 429/500 with backoff and splits on 413; the helpers give
    // the whole bulk up (their transport retries 502/503/504 only). Checked for sluice, shown for them.
    for (const [name, config] of [
        ['whole-request 429', { request_statuses: [429] }],
        ['whole-request 500', { request_statuses: [500] }],
        ['413 (max 4 KiB bodies)', { max_body_bytes: 4096 }],
    ]) {
        const x = await run(name, docs, { action: 'index', config });
        check(Object.keys(x.sluice.stored).length === docs.length && x.sluice.failedIds.size === 0,
              `${name}: sluice stored ${Object.keys(x.sluice.stored).length} of ${docs.length}`);
        console.log(`${name}: sluice stored ${Object.keys(x.sluice.stored).length}/${docs.length} in ${x.sluice.requests} requests; ` +
                    `elasticsearch helper: ${x.elasticsearch.error ?? 'ok'}, stored ${Object.keys(x.elasticsearch.stored).length}; ` +
                    `opensearch helper: ${x.opensearch.error ?? 'ok'}, stored ${Object.keys(x.opensearch.stored).length}`);
    }

    console.log(`compare-clients: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
