'use strict';
// Validates the fixture broker on its own with pulsar-flex, an independent Pulsar client (pure
// JavaScript, protobuf classes generated from the upstream PulsarApi.proto): single and batched
// messages from a pulsar-flex producer are checked in what the fixture stored, then consumed by
// pulsar-flex consumers, acknowledged, negatively acknowledged and redelivered, every message by id.
//
//   node validate-with-pulsar-flex.js <fixture state file>
// Exits non-zero on the first failed check.

const fs = require('fs');
const http = require('http');
const { Producer, Consumer, logLevel } = require('pulsar-flex');

const info = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const server = `127.0.0.1:${info.port}`;
const quiet = { logLevel: logLevel.NOTHING };
const run = `v${Date.now()}`;
let checks = 0;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
}

function control(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: info.control, path, method: path === '/state' ? 'GET' : 'POST' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body || '{}')) : reject(new Error(body))));
    });
    req.on('error', reject);
    req.end();
  });
}

const message = (i) => ({ payload: `flex-${i}`, properties: { i: String(i), origin: 'pulsar-flex' } });

async function produce(topic, count, batch) {
  const producer = new Producer({ topic, discoveryServers: [server], producerAccessMode: Producer.ACCESS_MODES.SHARED, ...quiet });
  await producer.create();
  if (batch) {
    for (let i = 0; i < count; i += 10) {
      const messages = [];
      for (let j = i; j < Math.min(count, i + 10); j++) messages.push(message(j));
      await producer.sendBatch({ messages });
    }
  } else {
    for (let i = 0; i < count; i++) await producer.sendMessage(message(i));
  }
  await producer.close();
}

/**
 * Subscribes (pulsar-flex sends no initial position: subscriptions start at the end, so consumers
 * subscribe before anything is produced) and consumes until `done(received)`; `decide(msg)` returns
 * 'ack' or 'nack'. Resolves to {finished}, a promise of the deliveries.
 */
async function subscribe(topic, subscription, decide, done) {
  const consumer = new Consumer({
    topic, subscription, discoveryServers: [server], subType: Consumer.SUB_TYPES.SHARED, consumerName: 'validator',
    receiveQueueSize: 1000, ...quiet,
  });
  await consumer.subscribe();
  const received = [];
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${topic}: only ${received.length} deliveries`)), 30000);
    consumer.run({
      autoAck: false,
      onMessage: async ({ ack, message: payload, properties, redeliveryCount, command }) => {
        const m = { payload: Buffer.from(payload).toString(), properties, redeliveryCount, entryId: Number(command.messageId.entryid) };
        received.push(m);
        if (decide(m) === 'ack') await ack(); else await ack({ type: Consumer.ACK_TYPES.NEGATIVE });
        if (done(received)) { clearTimeout(timer); resolve(received); }
      },
    }).catch(reject);
  });
  return { finished };
}

async function main() {
  const single = `persistent://public/default/${run}-single`;
  const batched = `persistent://public/default/${run}-batch`;
  const nackFirstEven = (m) => (m.redeliveryCount === 0 && m.entryId % 2 === 0 ? 'nack' : 'ack');
  const allSettled = (r) => new Set(r.filter((m) => m.entryId % 2 === 1 || m.redeliveryCount > 0).map((m) => m.entryId)).size >= 20;
  const consumers = [
    await subscribe(single, 'sub-a', () => 'ack', (r) => r.length >= 20),
    await subscribe(batched, 'sub-a', () => 'ack', (r) => r.length >= 25),
    await subscribe(single, 'sub-nack', nackFirstEven, allSettled),
  ];

  // 1. single messages: one entry each, payload and properties as sent
  await produce(single, 20, false);
  let state = await control('/state');
  const entries = state.topics[single].entries;
  check(entries.length === 20, 'twenty entries stored');
  entries.forEach((e, i) => {
    check(!e.batch && e.messages.length === 1, `entry ${i} is a single message`);
    check(Buffer.from(e.messages[0].payload, 'base64').toString() === `flex-${i}`, `entry ${i} payload`);
    check(e.messages[0].properties.i === String(i) && e.messages[0].properties.origin === 'pulsar-flex', `entry ${i} properties`);
  });

  // 2. batches: 25 messages in batches of 10 -> three batch entries
  await produce(batched, 25, true);
  state = await control('/state');
  const b = state.topics[batched].entries;
  check(b.length === 3 && b.every((e) => e.batch), 'three batch entries');
  const flat = b.flatMap((e) => e.messages);
  check(flat.length === 25, 'twenty-five batched messages');
  flat.forEach((m, i) => check(Buffer.from(m.payload, 'base64').toString() === `flex-${i}` && m.properties.i === String(i), `batched message ${i}`));

  // 3. consumed and acked: every message once, in order, every entry acknowledged
  const [got, gotBatch, nacked] = await Promise.all(consumers.map((c) => c.finished));
  check(got.map((m) => m.payload).join() === [...Array(20).keys()].map((i) => `flex-${i}`).join(), 'single messages consumed in order');
  check(gotBatch.map((m) => m.payload).join() === [...Array(25).keys()].map((i) => `flex-${i}`).join(), 'batched messages consumed in order');
  check(gotBatch.every((m) => m.properties.origin === 'pulsar-flex'), 'batched properties consumed');

  // 4. negative acks: even messages refused once, redelivered with redelivery count 1, then acked
  for (let i = 0; i < 20; i += 2) {
    const deliveries = nacked.filter((m) => m.entryId === i);
    check(deliveries.length === 2 && deliveries[0].redeliveryCount === 0 && deliveries[1].redeliveryCount === 1, `entry ${i} redelivered once`);
  }
  await new Promise((r) => setTimeout(r, 300));
  state = await control('/state');
  check(state.subscriptions[`${single}|sub-a`].acked.length === 20, 'all twenty entries acknowledged');
  check(state.subscriptions[`${batched}|sub-a`].acked.length === 3, 'all three batch entries acknowledged');
  const s = state.subscriptions[`${single}|sub-nack`];
  check(s.nacks === 10, 'ten negative acknowledgements counted');
  check(s.acked.length === 20, 'every entry finally acknowledged');
  console.log(`pulsar-flex validation of the fixture: ${checks} checks passed`);
}

main().then(() => process.exit(0)).catch((e) => { console.error(`pulsar-flex validation: ${e.stack || e}`); process.exit(1); });
