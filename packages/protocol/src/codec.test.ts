import { describe, expect, it } from 'vitest';
import { alarmCodec } from './alarm-codec.js';
import { type Codec, wireFormatOf } from './codec.js';
import { commandAckCodec } from './command-ack-codec.js';
import { commandCodec } from './command-codec.js';
import { CONTENT_TYPE_JSON } from './constants.js';
import {
  alarmFixture,
  commandAckFixture,
  commandFixture,
  FIXTURE_NOW_US,
  logBatchFixture,
  measurementBatchFixture,
  sensorStateFixture,
} from './fixtures/messages.js';
import { logBatchCodec } from './log-batch-codec.js';
import { measurementBatchCodec } from './measurement-batch-codec.js';
import { ProtocolError } from './protocol-error.js';
import { sensorStateCodec } from './sensor-state-codec.js';
import { expectProtocolError } from './test-helpers.js';

const codecs: Array<[name: string, codec: Codec<never>, fixture: unknown]> = [
  ['MeasurementBatch', measurementBatchCodec as Codec<never>, measurementBatchFixture],
  ['LogBatch', logBatchCodec as Codec<never>, logBatchFixture],
  ['SensorState', sensorStateCodec as Codec<never>, sensorStateFixture],
  ['Command', commandCodec as Codec<never>, commandFixture],
  ['CommandAck', commandAckCodec as Codec<never>, commandAckFixture],
  ['Alarm', alarmCodec as Codec<never>, alarmFixture],
];
const opts = { nowUs: FIXTURE_NOW_US };

/** mulberry32: a small seeded PRNG so the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decodes and reports the outcome; anything thrown that is not a ProtocolError fails the test. */
function outcome(codec: Codec<never>, body: Uint8Array, contentType?: string): 'ok' | 'rejected' {
  try {
    codec.decode(body, contentType, opts);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw new Error(`non-ProtocolError ${String(err)}`, { cause: err });
    expect(err.permanent).toBe(true);
    return 'rejected';
  }
}

describe('wireFormatOf', () => {
  it.each([
    [undefined, 'protobuf'],
    ['', 'protobuf'],
    ['application/x-protobuf', 'protobuf'],
    ['Application/X-Protobuf; proto=sensor_streaming.v1.MeasurementBatch', 'protobuf'],
    ['application/json', 'json'],
    [' application/json ; charset=utf-8', 'json'],
  ])('maps %j to %s', (ct, format) => {
    expect(wireFormatOf(ct)).toBe(format);
  });

  it.each(['text/plain', 'application/xml', 'application/octet-stream', 'json'])('rejects %j', (ct) => {
    expectProtocolError(() => wireFormatOf(ct), 'contentType', /unsupported/);
  });
});

describe.each(codecs)('%s codec robustness', (name, codec, fixture) => {
  it('has the proto message name', () => {
    expect(codec.messageName).toBe(name);
  });

  it('rejects an unsupported content type on decode and encode', () => {
    const bytes = codec.encode(fixture as never);
    expectProtocolError(() => codec.decode(bytes, 'text/plain', opts), 'contentType');
    expectProtocolError(() => codec.encode(fixture as never, 'text/csv'), 'contentType');
  });

  it('rejects a body that is not bytes, and a message that is not an object', () => {
    expectProtocolError(() => codec.decode('abc' as unknown as Uint8Array, undefined, opts), 'body');
    expectProtocolError(() => codec.encode(null as never), 'body');
    expectProtocolError(() => codec.encode(42 as never), 'body');
  });

  it('rejects an empty body with its own reason, not a missing field', () => {
    expectProtocolError(() => codec.decode(new Uint8Array(0), undefined, opts), 'body', /is empty/);
    expectProtocolError(() => codec.decode(new Uint8Array(0), CONTENT_TYPE_JSON, opts), 'body', /is empty/);
  });

  it('rejects a body over maxBytes before parsing it', () => {
    // 10 MB of 0xff: parsed, it would be an invalid varint; the size check answers first, in no time
    const huge = Buffer.alloc(10 * 1024 * 1024, 0xff);
    const started = performance.now();
    expectProtocolError(
      () => codec.decode(huge, undefined, opts),
      'body',
      /is 10485760 bytes, more than the 4194304 accepted/,
    );
    expect(performance.now() - started).toBeLessThan(50);
    const valid = codec.encode(fixture as never);
    expectProtocolError(
      () => codec.decode(valid, undefined, { ...opts, maxBytes: valid.length - 1 }),
      'body',
      /more than the/,
    );
    expect(() => codec.decode(valid, undefined, { ...opts, maxBytes: valid.length })).not.toThrow();
  });

  it('never throws anything but a ProtocolError on any truncation of a valid message', () => {
    const bytes = codec.encode(fixture as never);
    let rejected = 0;
    for (let n = 0; n < bytes.length; n++)
      if (outcome(codec, bytes.subarray(0, n)) === 'rejected') rejected++;
    // A cut between two fields can still be a valid message; most cuts are not.
    expect(rejected).toBeGreaterThan(bytes.length / 2);
    const json = codec.encode(fixture as never, CONTENT_TYPE_JSON);
    for (let n = 0; n < json.length; n++)
      expect(outcome(codec, json.subarray(0, n), CONTENT_TYPE_JSON)).toBe('rejected');
  });

  it('never throws anything but a ProtocolError on seeded random bytes and bit flips', () => {
    const random = prng(0x5e4501);
    for (let i = 0; i < 500; i++) {
      const body = new Uint8Array(Math.floor(random() * 200));
      for (let j = 0; j < body.length; j++) body[j] = Math.floor(random() * 256);
      outcome(codec, body);
      outcome(codec, body, CONTENT_TYPE_JSON);
    }
    const valid = codec.encode(fixture as never);
    for (let i = 0; i < 500; i++) {
      const body = Uint8Array.from(valid);
      const bit = Math.floor(random() * body.length * 8);
      body[bit >> 3] = (body[bit >> 3] as number) ^ (1 << (bit & 7));
      outcome(codec, body);
    }
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'rejects the JSON key %j as unknown',
    (key) => {
      expectProtocolError(
        () => codec.decode(Buffer.from(`{"${key}":1}`), CONTENT_TYPE_JSON, opts),
        key,
        /is not a field/,
      );
    },
  );

  it('ignores unknown protobuf fields (newer senders stay readable by older decoders)', () => {
    // field 99, varint 1 (tag 99<<3|0 = 792 = 0x98 0x06), appended to a valid message.
    const bytes = Buffer.concat([codec.encode(fixture as never), Buffer.from([0x98, 0x06, 0x01])]);
    expect(codec.decode(bytes, undefined, opts)).toEqual(fixture);
  });

  it('rejects a huge declared length without allocating it', () => {
    // field 1 (string), length varint 2^31: far beyond the buffer.
    const body = Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x41]);
    expect(outcome(codec, body)).toBe('rejected');
  });

  it('rejects deeply nested groups and deeply nested JSON without crashing', () => {
    // 100 000 x "start group" (field 15, wire type 3) with no end.
    expect(outcome(codec, new Uint8Array(100_000).fill(0x7b))).toBe('rejected');
    const deep = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(outcome(codec, deep, CONTENT_TYPE_JSON)).toBe('rejected');
  });
});
