'use strict';
// The Pulsar binary protocol for the fixture broker, written from the specification (the upstream
// PulsarApi.proto and the binary protocol documentation), independently of sluice's C++: protobuf by
// protobufjs from the schema below, CRC32C by crc-full, compression by pure-JavaScript codecs
// (lz4js, pako, fzstd, snappyjs). Only the fields the fixture reads or writes are declared.

const protobuf = require('protobufjs');
const { CRC } = require('crc-full');
const lz4 = require('lz4js');
const pako = require('pako');
const fzstd = require('fzstd');
const snappy = require('snappyjs');

const f = (id, type, rule) => (rule ? { id, type, rule } : { id, type });
const schema = {
  nested: {
    KeyValue: { fields: { key: f(1, 'string'), value: f(2, 'string') } },
    MessageIdData: {
      fields: {
        ledgerId: f(1, 'uint64'), entryId: f(2, 'uint64'), partition: f(3, 'int32'), batchIndex: f(4, 'int32'),
        ackSet: f(5, 'int64', 'repeated'), batchSize: f(6, 'int32'),
      },
    },
    MessageMetadata: {
      fields: {
        producerName: f(1, 'string'), sequenceId: f(2, 'uint64'), publishTime: f(3, 'uint64'),
        properties: f(4, 'KeyValue', 'repeated'), partitionKey: f(6, 'string'), compression: f(8, 'int32'),
        uncompressedSize: f(9, 'uint32'), numMessagesInBatch: f(11, 'int32'), eventTime: f(12, 'uint64'),
        orderingKey: f(18, 'bytes'), highestSequenceId: f(24, 'uint64'),
      },
    },
    SingleMessageMetadata: {
      fields: {
        properties: f(1, 'KeyValue', 'repeated'), partitionKey: f(2, 'string'), payloadSize: f(3, 'int32'),
        eventTime: f(5, 'uint64'), orderingKey: f(7, 'bytes'), sequenceId: f(8, 'uint64'),
      },
    },
    FeatureFlags: { fields: { supportsAuthRefresh: f(1, 'bool') } },
    CommandConnect: {
      fields: {
        clientVersion: f(1, 'string'), authData: f(3, 'bytes'), protocolVersion: f(4, 'int32'),
        authMethodName: f(5, 'string'),
      },
    },
    CommandConnected: {
      fields: { serverVersion: f(1, 'string'), protocolVersion: f(2, 'int32'), maxMessageSize: f(3, 'int32') },
    },
    CommandSubscribe: {
      fields: {
        topic: f(1, 'string'), subscription: f(2, 'string'), subType: f(3, 'int32'), consumerId: f(4, 'uint64'),
        requestId: f(5, 'uint64'), consumerName: f(6, 'string'), initialPosition: f(13, 'int32'),
      },
    },
    CommandProducer: {
      fields: {
        topic: f(1, 'string'), producerId: f(2, 'uint64'), requestId: f(3, 'uint64'), producerName: f(4, 'string'),
      },
    },
    CommandSend: {
      fields: {
        producerId: f(1, 'uint64'), sequenceId: f(2, 'uint64'), numMessages: f(3, 'int32'),
        highestSequenceId: f(6, 'uint64'),
      },
    },
    CommandSendReceipt: {
      fields: {
        producerId: f(1, 'uint64'), sequenceId: f(2, 'uint64'), messageId: f(3, 'MessageIdData'),
        highestSequenceId: f(4, 'uint64'),
      },
    },
    CommandSendError: {
      fields: { producerId: f(1, 'uint64'), sequenceId: f(2, 'uint64'), error: f(3, 'int32'), message: f(4, 'string') },
    },
    CommandMessage: {
      fields: { consumerId: f(1, 'uint64'), messageId: f(2, 'MessageIdData'), redeliveryCount: f(3, 'uint32') },
    },
    CommandAck: {
      fields: {
        consumerId: f(1, 'uint64'), ackType: f(2, 'int32'), messageId: f(3, 'MessageIdData', 'repeated'),
        validationError: f(4, 'int32'), requestId: f(8, 'uint64'),
      },
    },
    CommandAckResponse: { fields: { consumerId: f(1, 'uint64'), requestId: f(6, 'uint64') } },
    CommandFlow: { fields: { consumerId: f(1, 'uint64'), messagePermits: f(2, 'uint32') } },
    CommandUnsubscribe: { fields: { consumerId: f(1, 'uint64'), requestId: f(2, 'uint64') } },
    CommandSuccess: { fields: { requestId: f(1, 'uint64') } },
    CommandError: { fields: { requestId: f(1, 'uint64'), error: f(2, 'int32'), message: f(3, 'string') } },
    CommandCloseProducer: { fields: { producerId: f(1, 'uint64'), requestId: f(2, 'uint64') } },
    CommandCloseConsumer: { fields: { consumerId: f(1, 'uint64'), requestId: f(2, 'uint64') } },
    CommandProducerSuccess: {
      fields: { requestId: f(1, 'uint64'), producerName: f(2, 'string'), lastSequenceId: f(3, 'int64') },
    },
    CommandPing: { fields: {} },
    CommandPong: { fields: {} },
    CommandRedeliverUnacknowledgedMessages: {
      fields: { consumerId: f(1, 'uint64'), messageIds: f(2, 'MessageIdData', 'repeated') },
    },
    CommandPartitionedTopicMetadata: { fields: { topic: f(1, 'string'), requestId: f(2, 'uint64') } },
    CommandPartitionedTopicMetadataResponse: {
      fields: {
        partitions: f(1, 'uint32'), requestId: f(2, 'uint64'), response: f(3, 'int32'), error: f(4, 'int32'),
        message: f(5, 'string'),
      },
    },
    CommandLookupTopic: { fields: { topic: f(1, 'string'), requestId: f(2, 'uint64'), authoritative: f(3, 'bool') } },
    CommandLookupTopicResponse: {
      fields: {
        brokerServiceUrl: f(1, 'string'), brokerServiceUrlTls: f(2, 'string'), response: f(3, 'int32'),
        requestId: f(4, 'uint64'), authoritative: f(5, 'bool'), error: f(6, 'int32'), message: f(7, 'string'),
      },
    },
    BaseCommand: {
      fields: {
        type: f(1, 'int32'), connect: f(2, 'CommandConnect'), connected: f(3, 'CommandConnected'),
        subscribe: f(4, 'CommandSubscribe'), producer: f(5, 'CommandProducer'), send: f(6, 'CommandSend'),
        sendReceipt: f(7, 'CommandSendReceipt'), sendError: f(8, 'CommandSendError'), message: f(9, 'CommandMessage'),
        ack: f(10, 'CommandAck'), flow: f(11, 'CommandFlow'), unsubscribe: f(12, 'CommandUnsubscribe'),
        success: f(13, 'CommandSuccess'), error: f(14, 'CommandError'), closeProducer: f(15, 'CommandCloseProducer'),
        closeConsumer: f(16, 'CommandCloseConsumer'), producerSuccess: f(17, 'CommandProducerSuccess'),
        ping: f(18, 'CommandPing'), pong: f(19, 'CommandPong'),
        redeliverUnacknowledgedMessages: f(20, 'CommandRedeliverUnacknowledgedMessages'),
        partitionMetadata: f(21, 'CommandPartitionedTopicMetadata'),
        partitionMetadataResponse: f(22, 'CommandPartitionedTopicMetadataResponse'),
        lookupTopic: f(23, 'CommandLookupTopic'), lookupTopicResponse: f(24, 'CommandLookupTopicResponse'),
        ackResponse: f(38, 'CommandAckResponse'),
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
const T = (name) => root.lookupType(name);
const BaseCommand = T('BaseCommand');
const MessageMetadata = T('MessageMetadata');
const SingleMessageMetadata = T('SingleMessageMetadata');

const TYPES = {
  CONNECT: 2, CONNECTED: 3, SUBSCRIBE: 4, PRODUCER: 5, SEND: 6, SEND_RECEIPT: 7, SEND_ERROR: 8, MESSAGE: 9,
  ACK: 10, FLOW: 11, UNSUBSCRIBE: 12, SUCCESS: 13, ERROR: 14, CLOSE_PRODUCER: 15, CLOSE_CONSUMER: 16,
  PRODUCER_SUCCESS: 17, PING: 18, PONG: 19, REDELIVER_UNACKNOWLEDGED_MESSAGES: 20, PARTITIONED_METADATA: 21,
  PARTITIONED_METADATA_RESPONSE: 22, LOOKUP: 23, LOOKUP_RESPONSE: 24, ACK_RESPONSE: 38,
};
// The BaseCommand field of each type (the .proto numbers them alike).
const FIELD = {
  2: 'connect', 3: 'connected', 4: 'subscribe', 5: 'producer', 6: 'send', 7: 'sendReceipt', 8: 'sendError',
  9: 'message', 10: 'ack', 11: 'flow', 12: 'unsubscribe', 13: 'success', 14: 'error', 15: 'closeProducer',
  16: 'closeConsumer', 17: 'producerSuccess', 18: 'ping', 19: 'pong', 20: 'redeliverUnacknowledgedMessages',
  21: 'partitionMetadata', 22: 'partitionMetadataResponse', 23: 'lookupTopic', 24: 'lookupTopicResponse',
  38: 'ackResponse',
};
const COMPRESSION = { NONE: 0, LZ4: 1, ZLIB: 2, ZSTD: 3, SNAPPY: 4 };
const COMPRESSION_NAME = ['NONE', 'LZ4', 'ZLIB', 'ZSTD', 'SNAPPY'];

const crc = new CRC('CRC32_C', 32, 0x1edc6f41, 0xffffffff, 0xffffffff, true, true);
const crc32c = (buf) => crc.compute(buf) >>> 0;

function encodeCommand(type, body) {
  const msg = { type };
  msg[FIELD[type]] = body || {};
  return Buffer.from(BaseCommand.encode(BaseCommand.fromObject(msg)).finish());
}

/** [totalSize][commandSize][BaseCommand] */
function simpleFrame(type, body) {
  const cmd = encodeCommand(type, body);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(cmd.length + 4, 0);
  head.writeUInt32BE(cmd.length, 4);
  return Buffer.concat([head, cmd]);
}

/** A frame with a message part: metadata and payload are sent as stored (the producer's bytes). */
function payloadFrame(type, body, metadataBytes, payload) {
  const cmd = encodeCommand(type, body);
  const mdSize = Buffer.alloc(4);
  mdSize.writeUInt32BE(metadataBytes.length, 0);
  const checked = Buffer.concat([mdSize, metadataBytes, payload]);
  const magic = Buffer.alloc(6);
  magic.writeUInt16BE(0x0e01, 0);
  magic.writeUInt32BE(crc32c(checked), 2);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(4 + cmd.length + 6 + checked.length, 0);
  head.writeUInt32BE(cmd.length, 4);
  return Buffer.concat([head, cmd, magic, checked]);
}

/** Cuts frames from a stream; returns [frames, rest]. Throws on a protocol violation. */
function cutFrames(buffer, maxFrame) {
  const frames = [];
  let pos = 0;
  while (buffer.length - pos >= 4) {
    const total = buffer.readUInt32BE(pos);
    if (total < 4 || total > maxFrame) throw new Error(`frame of ${total} bytes`);
    if (buffer.length - pos < 4 + total) break;
    frames.push(parseFrame(buffer.subarray(pos + 4, pos + 4 + total)));
    pos += 4 + total;
  }
  return [frames, buffer.subarray(pos)];
}

function parseFrame(body) {
  const cmdSize = body.readUInt32BE(0);
  if (cmdSize > body.length - 4) throw new Error('command size exceeds the frame');
  const command = BaseCommand.toObject(BaseCommand.decode(body.subarray(4, 4 + cmdSize)), { longs: String, bytes: Buffer });
  const frame = { type: command.type, command: command[FIELD[command.type]] || {} };
  let rest = body.subarray(4 + cmdSize);
  if (rest.length === 0) return frame;
  if (rest.length < 10 || rest.readUInt16BE(0) !== 0x0e01) throw new Error('message part without magic 0x0e01');
  const expected = rest.readUInt32BE(2);
  rest = rest.subarray(6);
  frame.checksumOk = crc32c(rest) === expected;
  const mdSize = rest.readUInt32BE(0);
  if (mdSize > rest.length - 4) throw new Error('metadata size exceeds the frame');
  frame.metadataBytes = Buffer.from(rest.subarray(4, 4 + mdSize));
  frame.payload = Buffer.from(rest.subarray(4 + mdSize));
  frame.metadata = MessageMetadata.toObject(MessageMetadata.decode(frame.metadataBytes), { longs: String, bytes: Buffer });
  return frame;
}

function decompress(type, data, size) {
  switch (type || 0) {
    case COMPRESSION.NONE: return data;
    case COMPRESSION.LZ4: {
      const out = Buffer.alloc(size);
      const n = lz4.decompressBlock(data, out, 0, data.length, 0);
      if (n !== size) throw new Error(`lz4 block gave ${n} bytes, expected ${size}`);
      return out;
    }
    case COMPRESSION.ZLIB: return Buffer.from(pako.inflate(data));
    case COMPRESSION.ZSTD: return Buffer.from(fzstd.decompress(new Uint8Array(data)));
    case COMPRESSION.SNAPPY: return Buffer.from(snappy.uncompress(data));
    default: throw new Error(`unknown compression ${type}`);
  }
}

/** The messages of an entry: [{payload, properties, partitionKey, orderingKey, eventTime, sequenceId}]. */
function splitEntry(metadata, payload) {
  const plain = decompress(metadata.compression, payload, metadata.uncompressedSize || 0);
  if (metadata.compression && plain.length !== (metadata.uncompressedSize || 0))
    throw new Error(`uncompressed ${plain.length} bytes, metadata says ${metadata.uncompressedSize}`);
  const props = (list) => Object.fromEntries((list || []).map((kv) => [kv.key, kv.value]));
  if (metadata.numMessagesInBatch === undefined || metadata.numMessagesInBatch === null) {
    return [{
      payload: plain, properties: props(metadata.properties), partitionKey: metadata.partitionKey,
      orderingKey: metadata.orderingKey, eventTime: metadata.eventTime, sequenceId: metadata.sequenceId,
    }];
  }
  const out = [];
  let pos = 0;
  for (let i = 0; i < metadata.numMessagesInBatch; i++) {
    const size = plain.readUInt32BE(pos);
    pos += 4;
    const smm = SingleMessageMetadata.toObject(SingleMessageMetadata.decode(plain.subarray(pos, pos + size)),
      { longs: String, bytes: Buffer });
    pos += size;
    out.push({
      payload: Buffer.from(plain.subarray(pos, pos + smm.payloadSize)), properties: props(smm.properties),
      partitionKey: smm.partitionKey, orderingKey: smm.orderingKey, eventTime: smm.eventTime,
      sequenceId: smm.sequenceId,
    });
    pos += smm.payloadSize;
  }
  if (pos !== plain.length) throw new Error(`${plain.length - pos} bytes left after the batch`);
  return out;
}

const encodeMetadata = (md) => Buffer.from(MessageMetadata.encode(MessageMetadata.fromObject(md)).finish());

module.exports = {
  encodeMetadata, TYPES, COMPRESSION, COMPRESSION_NAME, simpleFrame, payloadFrame, cutFrames, splitEntry, crc32c,
};
