// Node's http client against sluice's http::server (driven by tests/test_http_server_clients.cpp).
// Node's parser (llhttp) is strict, so every answer here is also a check of the server's framing.
//
//   node tests/node/http_client.js http://127.0.0.1:PORT
//
// Prints one line "result <name> <value>" per check and exits non-zero when any check failed, with
// the reason on stderr.
'use strict';
const http = require('http');

const base = new URL(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
let failures = 0;

function fail(what) {
    failures++;
    console.error('FAIL ' + what);
}

function request(options, body, onRequest) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: base.hostname, port: base.port, agent, ...options }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
            res.on('error', reject);
        });
        req.on('error', reject);
        if (onRequest) onRequest(req);
        else req.end(body);
    });
}

async function posts(count) {
    const ids = [];
    for (let i = 0; i < count; i++) ids.push(i);
    const answers = await Promise.all(ids.map((id) => request({
        method: 'POST',
        path: '/minifirehoses/node/message',
        headers: { 'Content-Type': 'application/json' },
    }, JSON.stringify({ id, text: 'message ' + id }))));
    let ok = 0;
    answers.forEach((a, id) => {
        const expected = JSON.stringify({ accepted: 1, name: 'node', id });
        if (a.status === 202 && a.body === expected) ok++;
        else fail(`post ${id}: ${a.status} ${a.body}`);
    });
    return ok;
}

async function chunkedUpload() {
    const parts = ['first part,', 'second part,', 'x'.repeat(50000)];
    const a = await request({ method: 'POST', path: '/echo' }, null, (req) => {
        for (const p of parts) req.write(p); // no Content-Length: node sends it chunked
        req.end();
    });
    return a.status === 200 && a.body === parts.join('');
}

async function expectContinue() {
    const body = JSON.stringify({ id: 4242, pad: 'y'.repeat(4000) });
    let interim = false;
    const a = await new Promise((resolve, reject) => {
        const req = http.request({
            host: base.hostname, port: base.port, agent, method: 'POST', path: '/minifirehoses/node/message',
            headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Expect: '100-continue' },
        }, (res) => {
            let data = '';
            res.on('data', (c) => { data += c; });
            res.on('end', () => resolve({ status: res.statusCode, body: data }));
        });
        req.on('continue', () => { interim = true; req.end(body); });
        req.on('error', reject);
    });
    return interim && a.status === 202 && a.body === JSON.stringify({ accepted: 1, name: 'node', id: 4242 });
}

async function events() {
    const a = await request({ method: 'GET', path: '/events', headers: { Accept: 'text/event-stream' } });
    const expected = 'event: tick\nid: 0\ndata: 0\n\n' + 'event: tick\nid: 1\ndata: 1\n\n' + 'event: tick\nid: 2\ndata: 2\n\n';
    return a.status === 200 && a.headers['content-type'] === 'text/event-stream' && a.body === expected;
}

async function refusals() {
    const missing = await request({ method: 'GET', path: '/nowhere' });
    const wrong = await request({ method: 'PUT', path: '/echo' }, '');
    const head = await request({ method: 'HEAD', path: '/events' });
    return missing.status === 404 && JSON.parse(missing.body).error === 'no such resource' &&
        wrong.status === 501 && head.status === 200 && head.body === '';
}

(async () => {
    const count = 200;
    const ok = await posts(count);
    console.log(`result posts_ok ${ok}`);
    const checks = { chunked_upload: chunkedUpload, expect_continue: expectContinue, events, refusals };
    for (const [name, check] of Object.entries(checks)) {
        const passed = await check();
        if (!passed) fail(name);
        console.log(`result ${name} ${passed ? 1 : 0}`);
    }
    agent.destroy();
    process.exit(failures === 0 && ok === count ? 0 : 1);
})().catch((e) => {
    console.error('FAIL ' + (e && e.stack ? e.stack : e));
    process.exit(2);
});
