import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import type { MeasurementBatch } from './domain-types.js';
import {
  FIXTURE_NOW_US,
  irregularMeasurementBatchFixture,
  measurementBatchFixture,
} from './fixtures/messages.js';
import { measurementBatchCodec as codec } from './measurement-batch-codec.js';
import { getMessageType } from './proto-root.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };
const T0_NS = BigInt(measurementBatchFixture.firstSampleTimeUs) * 1000n;

/** The fixture as proto3 JSON, with `patch` applied (undefined deletes a field). */
function json(patch: Record<string, unknown> = {}): Buffer {
  const base = JSON.parse(codec.encode(measurementBatchFixture, CONTENT_TYPE_JSON).toString('utf8'));
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return jsonBody(base);
}

/** Raw protobuf bytes that bypass our validation (what a buggy device could send). */
function rawProtobuf(object: Record<string, unknown>): Uint8Array {
  const type = getMessageType('MeasurementBatch');
  return type.encode(type.fromObject(object)).finish();
}

describe('measurementBatchCodec round trips', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('regular batch via %s', (ct) => {
    expect(codec.decode(codec.encode(measurementBatchFixture, ct), ct, opts)).toEqual(
      measurementBatchFixture,
    );
  });

  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('irregular batch via %s', (ct) => {
    const decoded = codec.decode(codec.encode(irregularMeasurementBatchFixture, ct), ct, opts);
    expect(decoded).toEqual(irregularMeasurementBatchFixture);
  });

  it('defaults to protobuf when the content type is missing', () => {
    const bytes = codec.encode(measurementBatchFixture);
    expect(codec.decode(bytes, undefined, opts)).toEqual(measurementBatchFixture);
    expect(codec.decode(bytes, '', opts)).toEqual(measurementBatchFixture);
  });

  it('accepts content-type parameters', () => {
    expect(codec.decode(json(), 'application/json; charset=utf-8', opts)).toEqual(measurementBatchFixture);
  });

  it('omits an unknown altitude and round-trips a position without one', () => {
    const b: MeasurementBatch = { ...measurementBatchFixture, position: { lat: 0, lon: 0 } };
    expect(codec.decode(codec.encode(b), CONTENT_TYPE_PROTOBUF, opts).position).toEqual({ lat: 0, lon: 0 });
  });

  it('carries 100 000 values (the default limit) and rejects 100 001', () => {
    const values = Array.from({ length: 100_000 }, (_, i) => Math.sin(i));
    const b = { ...measurementBatchFixture, values };
    const decoded = codec.decode(codec.encode(b), CONTENT_TYPE_PROTOBUF, opts);
    expect(decoded.values).toEqual(values);
    expectProtocolError(
      () => codec.encode({ ...b, values: [...values, 1] }),
      'values',
      /100001 items.*100000/,
    );
  });

  it('applies maxBatchSize when decoding', () => {
    const bytes = codec.encode(measurementBatchFixture);
    expectProtocolError(() => codec.decode(bytes, undefined, { ...opts, maxBatchSize: 4 }), 'values');
    expect(codec.decode(bytes, undefined, { ...opts, maxBatchSize: 5 }).values).toHaveLength(5);
  });
});

describe('measurementBatchCodec timestamps', () => {
  it('converts ns above 2^53 exactly (rounded half up to µs)', () => {
    const body = json({
      firstSampleTimeNs: '1767225540123456789',
      samplePeriodNs: undefined,
      sampleTimesNs: [
        '1767225540123456789',
        '1767225540123457499',
        '1767225540123457500',
        '1767225540999999999',
        '1767225541000000000',
      ],
    });
    const b = codec.decode(body, CONTENT_TYPE_JSON, opts);
    expect(b.firstSampleTimeUs).toBe(1_767_225_540_123_457);
    expect(b.sampleTimesUs).toEqual([
      1_767_225_540_123_457, 1_767_225_540_123_457, 1_767_225_540_123_458, 1_767_225_541_000_000,
      1_767_225_541_000_000,
    ]);
  });

  it('encodes µs as exact int64 ns', () => {
    const us = 1_767_225_540_123_457;
    const body = codec.encode({ ...measurementBatchFixture, firstSampleTimeUs: us }, CONTENT_TYPE_JSON);
    expect(JSON.parse(body.toString('utf8')).firstSampleTimeNs).toBe('1767225540123457000');
    const type = getMessageType('MeasurementBatch');
    const raw = type.toObject(
      type.decode(codec.encode({ ...measurementBatchFixture, firstSampleTimeUs: us })),
      {
        longs: String,
      },
    );
    expect(raw.firstSampleTimeNs).toBe('1767225540123457000');
  });

  it('accepts JSON integers and snake_case field names (proto3 JSON parsers must)', () => {
    const body = jsonBody({
      serial: 'a',
      channel: 'c',
      sequence: 3,
      first_sample_time_ns: '1767225540000000000',
      sample_period_ns: 1000,
      values: [1, '2.5', 3e2],
    });
    const b = codec.decode(body, CONTENT_TYPE_JSON, opts);
    expect(b).toEqual({
      serial: 'a',
      channel: 'c',
      unit: '',
      sequence: 3,
      firstSampleTimeUs: 1_767_225_540_000_000,
      samplePeriodNs: 1000,
      values: [1, 2.5, 300],
    });
  });

  it.each([
    ['before 2000', '946684799999999999', 'firstSampleTimeNs', /before 2000/],
    ['zero', '0', 'firstSampleTimeNs', /before 2000/],
    ['negative', '-5', 'firstSampleTimeNs', /before 2000/],
    [
      'more than 24 h ahead',
      String((BigInt(FIXTURE_NOW_US) + 86_400_000_001n) * 1000n),
      'firstSampleTimeNs',
      /future/,
    ],
  ])('rejects a first sample time %s', (_name, ns, field, reason) => {
    expectProtocolError(
      () => codec.decode(json({ firstSampleTimeNs: ns }), CONTENT_TYPE_JSON, opts),
      field,
      reason,
    );
  });

  it('accepts a clock up to 24 h ahead', () => {
    const ns = String((BigInt(FIXTURE_NOW_US) + 86_000_000_000n) * 1000n);
    expect(codec.decode(json({ firstSampleTimeNs: ns }), CONTENT_TYPE_JSON, opts).firstSampleTimeUs).toBe(
      FIXTURE_NOW_US + 86_000_000_000,
    );
  });

  it('rejects a period that puts the last sample beyond the horizon', () => {
    const period = String(86_400_000_000_000); // one day per sample
    expectProtocolError(
      () => codec.decode(json({ samplePeriodNs: period }), CONTENT_TYPE_JSON, opts),
      'samplePeriodNs',
      /future/,
    );
  });

  it('requires a period > 0 unless explicit times are given', () => {
    expectProtocolError(
      () => codec.decode(json({ samplePeriodNs: '0' }), CONTENT_TYPE_JSON, opts),
      'samplePeriodNs',
      /> 0/,
    );
    expectProtocolError(
      () => codec.encode({ ...measurementBatchFixture, samplePeriodNs: 0 }),
      'samplePeriodNs',
    );
  });

  it('requires one explicit time per value', () => {
    const t = T0_NS.toString();
    expectProtocolError(
      () => codec.decode(json({ samplePeriodNs: '0', sampleTimesNs: [t, t] }), CONTENT_TYPE_JSON, opts),
      'sampleTimesNs',
      /2 times but values has 5/,
    );
  });

  it('checks every explicit time and the first time against them', () => {
    const times = [0, 1, 2, 3, 4].map((i) => (T0_NS + BigInt(i)).toString());
    times[3] = '12';
    expectProtocolError(
      () => codec.decode(json({ samplePeriodNs: '0', sampleTimesNs: times }), CONTENT_TYPE_JSON, opts),
      'sampleTimesNs[3]',
    );
    const good = [0, 1, 2, 3, 4].map((i) => (T0_NS + BigInt(i * 1000)).toString());
    expectProtocolError(
      () =>
        codec.decode(
          json({ samplePeriodNs: '0', sampleTimesNs: good, firstSampleTimeNs: (T0_NS + 7n).toString() }),
          CONTENT_TYPE_JSON,
          opts,
        ),
      'firstSampleTimeNs',
    );
  });

  describe('without nowUs', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('checks the horizon against the (fake) clock', () => {
      const in2030 = { ...measurementBatchFixture, firstSampleTimeUs: Date.UTC(2030, 0, 1) * 1000 };
      expectProtocolError(() => codec.encode(in2030), 'firstSampleTimeNs', /future/);
      vi.useFakeTimers({ now: new Date('2029-12-31T12:00:00Z') });
      const bytes = codec.encode(in2030);
      expect(codec.decode(bytes).firstSampleTimeUs).toBe(in2030.firstSampleTimeUs);
      vi.setSystemTime(new Date('2029-12-30T23:59:59Z'));
      expectProtocolError(() => codec.decode(bytes), 'firstSampleTimeNs', /future/);
    });
  });

  it('rejects uint64 values above 2^63 from protobuf input instead of wrapping them', () => {
    const raw = rawProtobuf({
      serial: 's',
      channel: 'c',
      sequence: '18446744073709551615',
      firstSampleTimeNs: T0_NS.toString(),
      samplePeriodNs: 1,
      values: [1],
    });
    expectProtocolError(() => codec.decode(raw, undefined, opts), 'sequence', /18446744073709551615/);
  });

  it('rejects non-integer µs on encode', () => {
    expectProtocolError(
      () => codec.encode({ ...measurementBatchFixture, firstSampleTimeUs: 1.5 }),
      'firstSampleTimeUs',
    );
    expectProtocolError(
      () => codec.encode({ ...irregularMeasurementBatchFixture, sampleTimesUs: [1, Number.NaN, 3] }),
      'sampleTimesUs[1]',
    );
  });
});

describe('measurementBatchCodec rejects bad values', () => {
  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects %s in values on encode and in protobuf and JSON input', (name, bad) => {
    const values = [1, 2, bad, 4];
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, values }), 'values[2]', /finite/);
    const raw = rawProtobuf({
      serial: 's',
      channel: 'c',
      firstSampleTimeNs: T0_NS.toString(),
      samplePeriodNs: 1,
      values,
    });
    expectProtocolError(() => codec.decode(raw, undefined, opts), 'values[2]', /finite/);
    expectProtocolError(
      () => codec.decode(json({ values: [1, 2, name, 4] }), CONTENT_TYPE_JSON, opts),
      'values[2]',
      /finite/,
    );
  });

  it('rejects NaN / Infinity in the position', () => {
    expectProtocolError(
      () => codec.encode({ ...measurementBatchFixture, position: { lat: Number.NaN, lon: 0 } }),
      'position.lat',
    );
    expectProtocolError(
      () => codec.decode(json({ position: { lat: 1, lon: 2, altM: 'Infinity' } }), CONTENT_TYPE_JSON, opts),
      'position.altM',
    );
  });

  it.each([
    [{ lat: 90.0001, lon: 0 }, 'position.lat'],
    [{ lat: -91, lon: 0 }, 'position.lat'],
    [{ lat: 0, lon: 180.5 }, 'position.lon'],
    [{ lat: 0, lon: -181 }, 'position.lon'],
  ])('rejects out-of-range position %j', (position, field) => {
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, position }), field, /within/);
    expectProtocolError(() => codec.decode(json({ position }), CONTENT_TYPE_JSON, opts), field);
  });

  it('rejects an empty batch', () => {
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, values: [] }), 'values', /empty/);
    expectProtocolError(() => codec.decode(json({ values: [] }), CONTENT_TYPE_JSON, opts), 'values', /empty/);
  });

  it.each(['', 'a.b', 'a*', 'a#', 'x'.repeat(65), 'a b'])('rejects the serial %j', (serial) => {
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, serial }), 'serial');
    expectProtocolError(() => codec.decode(json({ serial }), CONTENT_TYPE_JSON, opts), 'serial');
  });

  it.each(['', 'vib ration', '-lead', 'x'.repeat(65), 'temp\n'])('rejects the channel %j', (channel) => {
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, channel }), 'channel');
  });

  it('limits the unit to 32 printable characters', () => {
    expect(codec.decode(json({ unit: 'm/s²' }), CONTENT_TYPE_JSON, opts).unit).toBe('m/s²');
    expectProtocolError(
      () => codec.encode({ ...measurementBatchFixture, unit: 'u'.repeat(33) }),
      'unit',
      /32/,
    );
    expectProtocolError(
      () => codec.encode({ ...measurementBatchFixture, unit: 'a\u0000' }),
      'unit',
      /control/,
    );
  });

  it('rejects a sequence beyond 2^53 rather than rounding it', () => {
    expectProtocolError(
      () => codec.decode(json({ sequence: '9007199254740993' }), CONTENT_TYPE_JSON, opts),
      'sequence',
    );
    expectProtocolError(() => codec.encode({ ...measurementBatchFixture, sequence: -1 }), 'sequence');
  });
});

describe('measurementBatchCodec rejects wrong JSON', () => {
  it.each([
    [{ values: '1,2' }, 'values', /array/],
    [{ values: [1, true] }, 'values[1]', /number/],
    [{ values: [1, null] }, 'values[1]', /number/],
    [{ serial: 5 }, 'serial', /string/],
    [{ sequence: 1.5 }, 'sequence', /integer/],
    [{ sequence: '-1' }, 'sequence', /range/],
    [{ sequence: '1e3' }, 'sequence', /integer/],
    [{ firstSampleTimeNs: true }, 'firstSampleTimeNs', /integer/],
    [{ firstSampleTimeNs: 1767225540000000000 }, 'firstSampleTimeNs', /2\^53/],
    [{ samplePeriodNs: {} }, 'samplePeriodNs', /integer/],
    [{ position: [] }, 'position', /object/],
    [{ position: { lat: 'north' } }, 'position.lat', /number/],
    [{ position: { lat: 1, height: 3 } }, 'position.height', /not a field/],
    [{ colour: 'red' }, 'colour', /not a field/],
  ])('rejects %j at %s', (patch, field, reason) => {
    expectProtocolError(() => codec.decode(json(patch), CONTENT_TYPE_JSON, opts), field, reason);
  });

  it('rejects a field given twice (camelCase and snake_case)', () => {
    const body = Buffer.from(
      '{"serial":"a","channel":"c","samplePeriodNs":"1","sample_period_ns":"2","firstSampleTimeNs":"1767225540000000000","values":[1]}',
    );
    expectProtocolError(() => codec.decode(body, CONTENT_TYPE_JSON, opts), 'samplePeriodNs', /twice/);
  });

  it.each([
    ['not JSON', Buffer.from('{"serial":')],
    ['an array', Buffer.from('[1,2]')],
    ['a number', Buffer.from('42')],
    ['null', Buffer.from('null')],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['empty', Buffer.alloc(0)],
  ])('rejects a body that is %s', (_name, body) => {
    expectProtocolError(() => codec.decode(body, CONTENT_TYPE_JSON, opts), 'body');
  });
});
