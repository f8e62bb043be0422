'use strict';
// A loopback Pulsar broker for sluice's tests, written against the protocol specification. It keeps
// topics in memory and speaks enough of the binary protocol for producers and consumers: CONNECT (with
// token authentication when configured), PING/PONG both ways, PARTITIONED_METADATA, LOOKUP (with a
// redirect to its second listener for topics named "...redirect..."), PRODUCER (last_sequence_id per
// producer name), SEND of single and batched messages, compressed with LZ4/ZLIB/ZSTD/SNAPPY (decoded
// with pure-JavaScript codecs and checked), de-duplication by sequence id, SUBSCRIBE (Exclusive,
// Shared, Failover, Key_Shared; Latest/Earliest), FLOW permits, MESSAGE dispatch of entries as the
// producer wrote them, individual and cumulative ACK (batch indexes too), REDELIVER_UNACKNOWLEDGED_
// MESSAGES with redelivery counts, CLOSE_PRODUCER/CLOSE_CONSUMER, UNSUBSCRIBE.
//
// Simplifications, on purpose: one ledger (id 1), entries never expire, Failover's active consumer is
// the first connected, Key_Shared assigns a key by a hash of it modulo the consumers (sticky while
// they stay), no schemas, no transactions, no chunking.
//
// A control channel (HTTP on 127.0.0.1) lets tests see and steer it:
//   GET  /state                         every topic's messages (decoded) and every subscription
//   POST /partitioned?name=T&n=N        makes T a partitioned topic of N partitions
//   POST /drop                          drops every client connection
//   POST /restart?down_ms=M             closes the listeners and connections, listens again after M ms
//   POST /fail-sends?topic=T&n=N&error=E  the next N SENDs to T get SEND_ERROR E
//   POST /drop-on-send?n=N              drops the connection on the Nth SEND from now, after storing it
//   POST /ping                          the broker PINGs every connection (PONGs are counted)
//   POST /config?token=X&max_message_size=N
//   POST /inject?topic=T&kind=corrupt|bad-zlib|plain&payload=P  stores a message as a producer would not
//   POST /reset                         forgets every topic, subscription and setting
//
// With PULSAR_FIXTURE_TLS_DIR (server.pem and server.key in it) two more listeners speak TLS (Node's
// tls module, its own OpenSSL build): "tls_port" and "tls_port2", the TLS twins of the first two.
// Lookups on them answer with brokerServiceUrlTls pulsar+ssl://localhost:PORT next to the plain URL,
// as a TLS-enabled broker does.
//
// Environment: PULSAR_FIXTURE_STATE_FILE (written with {"port","port2","control"} and, with TLS,
// "tls_port","tls_port2" once listening).

const net = require('net');
const tls = require('tls');
const path = require('path');
const http = require('http');
const fs = require('fs');
const P = require('./protocol');
const { TYPES } = P;

const HOST = '127.0.0.1';
const MAX_FRAME = 64 << 20;

let config = { token: null, maxMessageSize: 5 << 20 };
let topics = new Map(); // name -> topic
let partitioned = new Map(); // name -> partitions
let subscriptions = new Map(); // topic + '\0' + sub -> subscription
let failSends = new Map(); // topic -> {n, error}
let dropOnSend = 0;
let counters = { connections: 0, pongs: 0, pingsAnswered: 0, protocolErrors: 0, authFailures: 0 };
const connections = new Set();
let producerNames = 0;

function topicOf(name) {
  if (!topics.has(name)) {
    topics.set(name, { name, entries: [], lastSequence: new Map(), receipts: new Map(), duplicates: 0, sendErrors: 0, badSends: 0 });
  }
  return topics.get(name);
}

function send(conn, type, body) {
  if (!conn.socket.destroyed) conn.socket.write(P.simpleFrame(type, body));
}

// ---- producers --------------------------------------------------------------------------------

function onProducer(conn, cmd) {
  const t = topicOf(cmd.topic);
  const name = cmd.producerName || `fixture-producer-${++producerNames}`;
  conn.producers.set(String(cmd.producerId), { topic: t, name });
  const last = t.lastSequence.has(name) ? t.lastSequence.get(name) : -1;
  send(conn, TYPES.PRODUCER_SUCCESS, { requestId: cmd.requestId, producerName: name, lastSequenceId: String(last) });
}

function onSend(conn, frame) {
  const cmd = frame.command;
  const p = conn.producers.get(String(cmd.producerId));
  const reply = (type, body) => send(conn, type, { producerId: cmd.producerId, sequenceId: cmd.sequenceId, ...body });
  if (!p) return reply(TYPES.SEND_ERROR, { error: 0, message: 'unknown producer' });
  const t = p.topic;
  const fail = failSends.get(t.name);
  if (fail && fail.n > 0) {
    fail.n--;
    t.sendErrors++;
    return reply(TYPES.SEND_ERROR, { error: fail.error, message: 'injected by the fixture' });
  }
  if (!frame.checksumOk) {
    t.badSends++;
    return reply(TYPES.SEND_ERROR, { error: 9, message: 'checksum mismatch' });
  }
  const seq = Number(cmd.sequenceId);
  const highest = cmd.highestSequenceId && Number(cmd.highestSequenceId) > 0 ? Number(cmd.highestSequenceId) : seq;
  const last = t.lastSequence.has(p.name) ? t.lastSequence.get(p.name) : -1;
  if (seq <= last) {
    t.duplicates++;
    const entryId = t.receipts.get(`${p.name}\0${seq}`);
    return reply(TYPES.SEND_RECEIPT, { messageId: { ledgerId: 1, entryId: entryId === undefined ? 0 : entryId }, highestSequenceId: highest });
  }
  let messages;
  try {
    messages = P.splitEntry(frame.metadata, frame.payload);
    if (messages.length !== (cmd.numMessages || 1)) throw new Error(`SEND says ${cmd.numMessages} messages, the entry holds ${messages.length}`);
  } catch (e) {
    t.badSends++;
    return reply(TYPES.SEND_ERROR, { error: 0, message: `undecodable entry: ${e.message}` });
  }
  const entryId = t.entries.length;
  t.entries.push({ entryId, metadataBytes: frame.metadataBytes, payload: frame.payload, metadata: frame.metadata, messages, producer: p.name });
  t.lastSequence.set(p.name, highest);
  t.receipts.set(`${p.name}\0${seq}`, entryId);
  if (dropOnSend > 0 && --dropOnSend === 0) {
    conn.socket.destroy(); // stored, but the receipt never leaves: the producer must resend
    return;
  }
  reply(TYPES.SEND_RECEIPT, { messageId: { ledgerId: 1, entryId }, highestSequenceId: highest });
  for (const s of subscriptions.values()) if (s.topic === t) dispatch(s);
}

// ---- consumers --------------------------------------------------------------------------------

function onSubscribe(conn, cmd) {
  const t = topicOf(cmd.topic);
  const key = `${cmd.topic}\0${cmd.subscription}`;
  let s = subscriptions.get(key);
  if (!s) {
    s = {
      topic: t, name: cmd.subscription, type: cmd.subType || 0, consumers: [], cursor: cmd.initialPosition === 1 ? 0 : t.entries.length,
      acked: new Set(), ackedIndexes: new Map(), redeliveryCount: new Map(), redeliver: [], outstanding: new Map(),
      acks: [], nacks: 0, dispatched: 0, rr: 0,
    };
    subscriptions.set(key, s);
  }
  const type = cmd.subType || 0;
  if (s.consumers.length > 0 && (type !== s.type || type === 0)) {
    return send(conn, TYPES.ERROR, { requestId: cmd.requestId, error: 5, message: 'Exclusive consumer is already connected' });
  }
  s.type = type;
  const c = { conn, id: String(cmd.consumerId), sub: s, permits: 0, name: cmd.consumerName || '' };
  s.consumers.push(c);
  conn.consumers.set(c.id, c);
  send(conn, TYPES.SUCCESS, { requestId: cmd.requestId });
}

function removeConsumer(c) {
  const s = c.sub;
  s.consumers = s.consumers.filter((x) => x !== c);
  for (const [entryId, owner] of s.outstanding) {
    if (owner === c) {
      s.outstanding.delete(entryId);
      s.redeliveryCount.set(entryId, (s.redeliveryCount.get(entryId) || 0) + 1);
      s.redeliver.push(entryId);
    }
  }
  dispatch(s);
}

function keyOf(entry) {
  const m = entry.messages[0];
  return (m.orderingKey && m.orderingKey.length ? m.orderingKey.toString('latin1') : null) || m.partitionKey || '';
}

function hashKey(key) {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) >>> 0;
  return h;
}

function pickConsumer(s, entry) {
  const ready = s.consumers.filter((c) => c.permits > 0 && !c.conn.socket.destroyed);
  if (ready.length === 0) return null;
  if (s.type === 0 || s.type === 2) return s.consumers[0].permits > 0 ? s.consumers[0] : null; // Exclusive, Failover
  if (s.type === 3) {
    const c = s.consumers[hashKey(keyOf(entry)) % s.consumers.length];
    return c.permits > 0 ? c : null;
  }
  s.rr = (s.rr + 1) % ready.length;
  return ready[s.rr];
}

function nextEntry(s) {
  while (s.redeliver.length > 0) {
    const id = s.redeliver[0];
    if (s.acked.has(id) || s.outstanding.has(id)) { s.redeliver.shift(); continue; }
    return id;
  }
  while (s.cursor < s.topic.entries.length && s.acked.has(s.cursor)) s.cursor++;
  return s.cursor < s.topic.entries.length ? s.cursor : null;
}

function dispatch(s) {
  for (;;) {
    const id = nextEntry(s);
    if (id === null) return;
    const entry = s.topic.entries[id];
    const c = pickConsumer(s, entry);
    if (!c) return;
    if (s.redeliver.length > 0 && s.redeliver[0] === id) s.redeliver.shift(); else s.cursor = id + 1;
    s.outstanding.set(id, c);
    c.permits -= entry.messages.length;
    s.dispatched++;
    const body = { consumerId: c.id, messageId: { ledgerId: 1, entryId: id }, redeliveryCount: s.redeliveryCount.get(id) || 0 };
    const frame = P.payloadFrame(TYPES.MESSAGE, body, entry.metadataBytes, entry.payload);
    if (entry.corrupt) frame[frame.length - 1] ^= 0x20; // after the CRC was computed: a damaged message
    c.conn.socket.write(frame);
  }
}

function ackEntry(s, id, batchIndex) {
  const entry = s.topic.entries[id];
  if (!entry) return;
  s.acks.push(batchIndex === undefined || batchIndex < 0 ? `${id}` : `${id}:${batchIndex}`);
  if (batchIndex !== undefined && batchIndex >= 0 && entry.messages.length > 1) {
    const set = s.ackedIndexes.get(id) || new Set();
    set.add(batchIndex);
    s.ackedIndexes.set(id, set);
    if (set.size < entry.messages.length) return;
  }
  s.acked.add(id);
  s.outstanding.delete(id);
}

function onAck(conn, cmd) {
  const c = conn.consumers.get(String(cmd.consumerId));
  if (c) {
    const s = c.sub;
    for (const m of cmd.messageId || []) {
      const id = Number(m.entryId);
      const bi = m.batchIndex === undefined ? undefined : m.batchIndex;
      if (cmd.ackType === 1) {
        for (let i = 0; i <= id; i++) if (!s.acked.has(i)) ackEntry(s, i, i === id ? bi : undefined);
      } else {
        ackEntry(s, id, bi);
      }
    }
    dispatch(s);
  }
  if (cmd.requestId !== undefined && cmd.requestId !== null) {
    send(conn, TYPES.ACK_RESPONSE, { consumerId: cmd.consumerId, requestId: cmd.requestId });
  }
}

function onRedeliver(conn, cmd) {
  const c = conn.consumers.get(String(cmd.consumerId));
  if (!c) return;
  const s = c.sub;
  const ids = (cmd.messageIds || []).map((m) => Number(m.entryId));
  const targets = ids.length > 0 ? ids : [...s.outstanding.keys()].filter((id) => s.outstanding.get(id) === c);
  for (const id of new Set(targets)) {
    if (s.outstanding.get(id) !== c) continue;
    s.outstanding.delete(id);
    s.nacks++;
    s.redeliveryCount.set(id, (s.redeliveryCount.get(id) || 0) + 1);
    s.redeliver.push(id);
  }
  dispatch(s);
}

// ---- connections ------------------------------------------------------------------------------

// Listeners 0 and 1 are plain, 2 and 3 their TLS twins; a redirect goes from the first of a pair
// to the second.
function lookupAnswer(conn, cmd) {
  const plainUrl = (i) => `pulsar://${HOST}:${ports[i % 2]}`;
  const answer = (i, response) => {
    const a = { requestId: cmd.requestId, response, brokerServiceUrl: plainUrl(i), authoritative: true };
    if (i >= 2) a.brokerServiceUrlTls = `pulsar+ssl://localhost:${ports[i]}`;
    return a;
  };
  if (cmd.topic.includes('redirect') && conn.listener % 2 === 0) return answer(conn.listener + 1, 0);
  return answer(conn.listener, 1);
}

function onFrame(conn, frame) {
  const cmd = frame.command;
  if (!conn.connected && frame.type !== TYPES.CONNECT) throw new Error(`command ${frame.type} before CONNECT`);
  switch (frame.type) {
    case TYPES.CONNECT:
      if (config.token !== null && (cmd.authMethodName !== 'token' || !cmd.authData || cmd.authData.toString() !== config.token)) {
        counters.authFailures++;
        send(conn, TYPES.ERROR, { requestId: 0, error: 3, message: 'authentication failed' });
        conn.socket.end();
        return;
      }
      conn.connected = true;
      conn.clientVersion = cmd.clientVersion;
      return send(conn, TYPES.CONNECTED, { serverVersion: 'sluice-fixture', protocolVersion: Math.min(cmd.protocolVersion || 0, 21), maxMessageSize: config.maxMessageSize });
    case TYPES.PING: counters.pingsAnswered++; return send(conn, TYPES.PONG, {});
    case TYPES.PONG: counters.pongs++; return;
    case TYPES.PARTITIONED_METADATA:
      return send(conn, TYPES.PARTITIONED_METADATA_RESPONSE, { requestId: cmd.requestId, partitions: partitioned.get(cmd.topic) || 0, response: 0 });
    case TYPES.LOOKUP: return send(conn, TYPES.LOOKUP_RESPONSE, lookupAnswer(conn, cmd));
    case TYPES.PRODUCER: return onProducer(conn, cmd);
    case TYPES.SEND: return onSend(conn, frame);
    case TYPES.SUBSCRIBE: return onSubscribe(conn, cmd);
    case TYPES.FLOW: {
      const c = conn.consumers.get(String(cmd.consumerId));
      if (c) { c.permits += cmd.messagePermits; dispatch(c.sub); }
      return;
    }
    case TYPES.ACK: return onAck(conn, cmd);
    case TYPES.REDELIVER_UNACKNOWLEDGED_MESSAGES: return onRedeliver(conn, cmd);
    case TYPES.CLOSE_PRODUCER:
      conn.producers.delete(String(cmd.producerId));
      return send(conn, TYPES.SUCCESS, { requestId: cmd.requestId });
    case TYPES.CLOSE_CONSUMER: case TYPES.UNSUBSCRIBE: {
      const c = conn.consumers.get(String(cmd.consumerId));
      if (c) {
        conn.consumers.delete(c.id);
        removeConsumer(c);
        if (frame.type === TYPES.UNSUBSCRIBE) subscriptions.delete(`${c.sub.topic.name}\0${c.sub.name}`);
      }
      return send(conn, TYPES.SUCCESS, { requestId: cmd.requestId });
    }
    default:
      throw new Error(`unsupported command type ${frame.type}`);
  }
}

function onConnection(socket, listener) {
  counters.connections++;
  const conn = { socket, listener, connected: false, producers: new Map(), consumers: new Map(), buffer: Buffer.alloc(0) };
  connections.add(conn);
  socket.setNoDelay(true);
  socket.on('data', (data) => {
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, data]) : data;
    try {
      const [frames, rest] = P.cutFrames(conn.buffer, MAX_FRAME);
      conn.buffer = Buffer.from(rest);
      for (const f of frames) onFrame(conn, f);
    } catch (e) {
      counters.protocolErrors++;
      console.error(`fixture: protocol error, closing the connection: ${e.message}`);
      socket.destroy();
    }
  });
  const gone = () => {
    if (!connections.delete(conn)) return;
    for (const c of conn.consumers.values()) removeConsumer(c);
    conn.consumers.clear();
  };
  socket.on('close', gone);
  socket.on('error', gone);
}

// ---- listeners and the control channel --------------------------------------------------------

const servers = [];
const tlsDir = process.env.PULSAR_FIXTURE_TLS_DIR;
const tlsFiles = tlsDir
  ? { cert: fs.readFileSync(path.join(tlsDir, 'server.pem')), key: fs.readFileSync(path.join(tlsDir, 'server.key')) }
  : null;
const LISTENERS = tlsFiles ? 4 : 2;
let ports = new Array(LISTENERS).fill(0);

function listen(index) {
  return new Promise((resolve, reject) => {
    const server = index < 2
      ? net.createServer((s) => onConnection(s, index))
      : tls.createServer(tlsFiles, (s) => onConnection(s, index));
    server.once('error', reject);
    server.listen(ports[index], HOST, () => {
      ports[index] = server.address().port;
      servers[index] = server;
      resolve();
    });
  });
}

async function listenAll() {
  for (let i = 0; i < LISTENERS; i++) await listen(i);
}

function dropAll() {
  for (const conn of [...connections]) conn.socket.destroy();
}

async function restart(downMs) {
  const closed = Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  dropAll(); // close() waits for the connections to end
  await closed;
  await new Promise((r) => setTimeout(r, downMs));
  await listenAll();
}

function state() {
  const out = { counters, topics: {}, subscriptions: {}, partitioned: Object.fromEntries(partitioned) };
  for (const t of topics.values()) {
    out.topics[t.name] = {
      duplicates: t.duplicates, sendErrors: t.sendErrors, badSends: t.badSends,
      entries: t.entries.map((e) => ({
        entryId: e.entryId, producer: e.producer, sequenceId: e.metadata.sequenceId,
        compression: P.COMPRESSION_NAME[e.metadata.compression || 0], batch: e.metadata.numMessagesInBatch !== undefined && e.metadata.numMessagesInBatch !== null,
        messages: e.messages.map((m) => ({
          payload: m.payload.toString('base64'), properties: m.properties, partitionKey: m.partitionKey,
          orderingKey: m.orderingKey ? m.orderingKey.toString('base64') : undefined, eventTime: m.eventTime, sequenceId: m.sequenceId,
        })),
      })),
    };
  }
  for (const s of subscriptions.values()) {
    out.subscriptions[`${s.topic.name}|${s.name}`] = {
      type: s.type, consumers: s.consumers.length, acked: [...s.acked].sort((a, b) => a - b), acks: s.acks, nacks: s.nacks,
      dispatched: s.dispatched, redeliveryCount: Object.fromEntries(s.redeliveryCount), outstanding: s.outstanding.size,
    };
  }
  return out;
}

function inject(q) {
  const t = topicOf(q.get('topic'));
  const payload = Buffer.from(q.get('payload') || 'injected');
  const md = { producerName: 'fixture-injector', sequenceId: t.entries.length, publishTime: Date.now() };
  let body = payload;
  if (q.get('kind') === 'bad-zlib') { md.compression = 2; md.uncompressedSize = 100; body = Buffer.from('not zlib at all'); }
  const metadataBytes = P.encodeMetadata(md);
  const entry = { entryId: t.entries.length, metadataBytes, payload: body, metadata: md, messages: [{ payload, properties: {} }], producer: 'fixture-injector' };
  if (q.get('kind') === 'corrupt') entry.corrupt = true;
  t.entries.push(entry);
  for (const s of subscriptions.values()) if (s.topic === t) dispatch(s);
  return { entryId: entry.entryId };
}

const control = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${HOST}`);
  const q = url.searchParams;
  const ok = (body) => {
    const data = Buffer.from(JSON.stringify(body || {}));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': data.length });
    res.end(data);
  };
  const run = async () => {
    switch (url.pathname) {
      case '/state': return ok(state());
      case '/partitioned': partitioned.set(q.get('name'), Number(q.get('n'))); return ok();
      case '/drop': dropAll(); return ok();
      case '/restart': await restart(Number(q.get('down_ms') || 200)); return ok({ ports });
      case '/fail-sends': failSends.set(q.get('topic'), { n: Number(q.get('n') || 1), error: Number(q.get('error') || 0) }); return ok();
      case '/drop-on-send': dropOnSend = Number(q.get('n') || 1); return ok();
      case '/ping': for (const c of connections) if (c.connected) send(c, TYPES.PING, {}); return ok();
      case '/config':
        if (q.has('token')) config.token = q.get('token') || null;
        if (q.has('max_message_size')) config.maxMessageSize = Number(q.get('max_message_size'));
        return ok(config);
      case '/inject': return ok(inject(q));
      case '/reset':
        dropAll();
        topics = new Map(); partitioned = new Map(); subscriptions = new Map(); failSends = new Map(); dropOnSend = 0;
        config = { token: null, maxMessageSize: 5 << 20 };
        return ok();
      default: res.writeHead(404); return res.end('unknown control command');
    }
  };
  run().catch((e) => { res.writeHead(500); res.end(String(e && e.stack)); });
});

(async () => {
  await listenAll();
  await new Promise((r) => control.listen(0, HOST, r));
  const info = { port: ports[0], port2: ports[1], control: control.address().port };
  if (tlsFiles) { info.tls_port = ports[2]; info.tls_port2 = ports[3]; }
  const file = process.env.PULSAR_FIXTURE_STATE_FILE;
  if (file) { fs.writeFileSync(`${file}.tmp`, JSON.stringify(info)); fs.renameSync(`${file}.tmp`, file); }
  console.log(`fixture: listening ${JSON.stringify(info)}`);
})().catch((e) => { console.error(e); process.exit(1); });

process.on('SIGTERM', () => process.exit(0));
