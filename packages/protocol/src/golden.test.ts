import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { alarmCodec } from './alarm-codec.js';
import type { Codec } from './codec.js';
import { commandAckCodec } from './command-ack-codec.js';
import { commandCodec } from './command-codec.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import {
  alarmFixture,
  commandAckFixture,
  commandFixture,
  FIXTURE_NOW_US,
  irregularMeasurementBatchFixture,
  logBatchFixture,
  measurementBatchFixture,
  sensorStateFixture,
} from './fixtures/messages.js';
import { logBatchCodec } from './log-batch-codec.js';
import { measurementBatchCodec } from './measurement-batch-codec.js';
import { sensorStateCodec } from './sensor-state-codec.js';

// Golden wire fixtures: bytes written once from the fixed messages in
// fixtures/messages.ts and committed. Any change to sensor.proto or the codecs
// that changes what goes on the wire (and so may break deployed firmware)
// fails here. After a deliberate, compatible change, regenerate with
//   UPDATE_GOLDEN=1 pnpm exec vitest run packages/protocol/src/golden.test.ts
// and review the diff.

const cases: Array<[name: string, codec: Codec<never>, message: unknown]> = [
  ['measurement-batch', measurementBatchCodec as Codec<never>, measurementBatchFixture],
  ['measurement-batch-irregular', measurementBatchCodec as Codec<never>, irregularMeasurementBatchFixture],
  ['log-batch', logBatchCodec as Codec<never>, logBatchFixture],
  ['sensor-state', sensorStateCodec as Codec<never>, sensorStateFixture],
  ['command', commandCodec as Codec<never>, commandFixture],
  ['command-ack', commandAckCodec as Codec<never>, commandAckFixture],
  ['alarm', alarmCodec as Codec<never>, alarmFixture],
];

const update = process.env.UPDATE_GOLDEN === '1';

function fixturePath(file: string): string {
  return fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
}

function golden(file: string, actual: Buffer): Buffer {
  const path = fixturePath(file);
  if (update) writeFileSync(path, actual);
  if (!existsSync(path)) throw new Error(`missing golden fixture ${path}; run with UPDATE_GOLDEN=1 once`);
  return readFileSync(path);
}

describe.each(cases)('golden fixture %s', (name, codec, message) => {
  it('encodes to the committed protobuf bytes, byte for byte', () => {
    const actual = codec.encode(message as never, CONTENT_TYPE_PROTOBUF);
    expect(actual.toString('hex')).toBe(golden(`${name}.bin`, actual).toString('hex'));
  });

  it('decodes the committed protobuf bytes to the fixed message', () => {
    const bytes = readFileSync(fixturePath(`${name}.bin`));
    expect(codec.decode(bytes, CONTENT_TYPE_PROTOBUF, { nowUs: FIXTURE_NOW_US })).toEqual(message);
  });

  it('encodes to the committed proto3 JSON and decodes it back', () => {
    const actual = codec.encode(message as never, CONTENT_TYPE_JSON);
    expect(actual.toString('utf8')).toBe(golden(`${name}.json`, actual).toString('utf8'));
    const committed = readFileSync(fixturePath(`${name}.json`));
    expect(codec.decode(committed, CONTENT_TYPE_JSON, { nowUs: FIXTURE_NOW_US })).toEqual(message);
  });
});

describe('golden bytes by hand', () => {
  it('MeasurementBatch keeps its field numbers and packed doubles', () => {
    // serial=1 (tag 0x0a) "ab", values=8 packed (tag 0x42) [1.0], sequence=4 (tag 0x20) 1,
    // first_sample_time_ns=5 (tag 0x28), sample_period_ns=6 (tag 0x30).
    const bytes = measurementBatchCodec.encode({
      serial: 'ab',
      channel: 'c',
      unit: '',
      sequence: 1,
      firstSampleTimeUs: FIXTURE_NOW_US,
      samplePeriodNs: 1,
      values: [1],
    });
    const firstNs = BigInt(FIXTURE_NOW_US) * 1000n;
    const varint = (n: bigint): string => {
      let out = '';
      let v = n;
      do {
        const b = Number(v & 0x7fn);
        v >>= 7n;
        out += (v > 0n ? b | 0x80 : b).toString(16).padStart(2, '0');
      } while (v > 0n);
      return out;
    };
    const expected = ['0a026162', '120163', '2001', `28${varint(firstNs)}`, '3001', '4208000000000000f03f'];
    expect(bytes.toString('hex')).toBe(expected.join(''));
  });
});
