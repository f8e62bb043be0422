'use strict';
// pulsar-flex, an independent pure-JavaScript Pulsar client, driven from the command line so that
// sluice's tests can put it on the other side of the fixture broker:
//
//   node flex-tool.js produce <host:port> <topic> <count> [batch]
//       sends <count> messages "flex-<i>" with properties {i, origin: "pulsar-flex"}, one SEND each,
//       or batches of 10 with "batch"; prints one JSON line: {"sent": count}
//   node flex-tool.js consume <host:port> <topic> <subscription> <count> [timeout_ms]
//       subscribes (Exclusive; pulsar-flex sends no initial position, so the subscription starts at
//       the end: it prints {"subscribed": true} once subscribed, and the caller produces after that),
//       receives <count> messages, acks each, and prints one JSON line per message: {"payload": base64, "properties": {...}, "partitionKey", "redeliveryCount",
//       "entryId"}; exits 1 if fewer arrive before the timeout

const { Producer, Consumer, logLevel } = require('pulsar-flex');

const quiet = { logLevel: logLevel.NOTHING };

async function produce(server, topic, count, batch) {
  const producer = new Producer({ topic, discoveryServers: [server], producerAccessMode: Producer.ACCESS_MODES.SHARED, ...quiet });
  await producer.create();
  const message = (i) => ({ payload: `flex-${i}`, properties: { i: String(i), origin: 'pulsar-flex' } });
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
  console.log(JSON.stringify({ sent: count }));
}

async function consume(server, topic, subscription, count, timeoutMs) {
  const consumer = new Consumer({
    topic, subscription, discoveryServers: [server], subType: Consumer.SUB_TYPES.EXCLUSIVE, consumerName: 'flex',
    receiveQueueSize: Math.max(1000, count * 2), ...quiet,
  });
  await consumer.subscribe();
  console.log(JSON.stringify({ subscribed: true }));
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${count} messages`)), timeoutMs);
    consumer.run({
      autoAck: false,
      onMessage: async ({ ack, message, metadata, properties, redeliveryCount, command }) => {
        await ack();
        got.push({
          payload: Buffer.from(message).toString('base64'), properties, partitionKey: metadata.partitionKey || undefined,
          redeliveryCount, entryId: command.messageId.entryid,
        });
        if (got.length >= count) { clearTimeout(timer); resolve(); }
      },
    });
  });
  for (const m of got) console.log(JSON.stringify(m));
}

const [cmd, ...args] = process.argv.slice(2);
const main = cmd === 'produce'
  ? produce(args[0], args[1], Number(args[2]), args[3] === 'batch')
  : consume(args[0], args[1], args[2], Number(args[3]), Number(args[4] || 20000));
main.then(() => process.exit(0)).catch((e) => { console.error(`flex-tool: ${e && e.message}`); process.exit(1); });
