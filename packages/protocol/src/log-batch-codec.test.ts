import { describe, expect, it } from 'vitest';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import type { LogEntry } from './domain-types.js';
import { FIXTURE_NOW_US, logBatchFixture } from './fixtures/messages.js';
import { logBatchCodec as codec } from './log-batch-codec.js';
import { getMessageType } from './proto-root.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };
const entry = logBatchFixture.entries[0] as LogEntry;

function withEntry(patch: Partial<Record<keyof LogEntry, unknown>>) {
  return { ...logBatchFixture, entries: [entry, { ...entry, ...patch } as LogEntry] };
}

function jsonWithEntry(patch: Record<string, unknown>): Buffer {
  const base = JSON.parse(codec.encode(logBatchFixture, CONTENT_TYPE_JSON).toString('utf8'));
  base.entries[1] = { ...base.entries[1], ...patch };
  return jsonBody(base);
}

describe('logBatchCodec', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('round-trips via %s', (ct) => {
    expect(codec.decode(codec.encode(logBatchFixture, ct), ct, opts)).toEqual(logBatchFixture);
  });

  it('maps every level', () => {
    for (const level of ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const) {
      const decoded = codec.decode(codec.encode(withEntry({ level })), undefined, opts);
      expect(decoded.entries[1]?.level).toBe(level);
    }
  });

  it('accepts enum numbers in JSON', () => {
    expect(codec.decode(jsonWithEntry({ level: 3 }), CONTENT_TYPE_JSON, opts).entries[1]?.level).toBe('WARN');
  });

  it.each([
    [{ level: 'LOG_LEVEL_UNSPECIFIED' }, /LOG_LEVEL_DEBUG/],
    [{ level: 0 }, /LOG_LEVEL_DEBUG/],
    [{ level: 9 }, /unknown/],
    [{ level: 'WARN' }, /unknown/],
    [{ level: true }, /name or number/],
  ])('rejects the level %j with the entry index in the path', (patch, reason) => {
    expectProtocolError(
      () => codec.decode(jsonWithEntry(patch), CONTENT_TYPE_JSON, opts),
      'entries[1].level',
      reason,
    );
  });

  it('rejects an unknown level number in protobuf input', () => {
    const type = getMessageType('LogBatch');
    const raw = type
      .encode(
        type.fromObject({
          serial: 's',
          entries: [{ timeNs: String(BigInt(entry.timeUs) * 1000n), level: 7 }],
        }),
      )
      .finish();
    expectProtocolError(() => codec.decode(raw, undefined, opts), 'entries[0].level', /7/);
  });

  it('rejects a level missing on the wire (UNSPECIFIED)', () => {
    const type = getMessageType('LogBatch');
    const raw = type
      .encode(type.fromObject({ serial: 's', entries: [{ timeNs: '1767225540000000000' }] }))
      .finish();
    expectProtocolError(() => codec.decode(raw, undefined, opts), 'entries[0].level');
  });

  it('rejects an unknown level on encode', () => {
    expectProtocolError(() => codec.encode(withEntry({ level: 'FATAL' })), 'entries[1].level');
  });

  it.each([
    [{ timeUs: 1.5 }, 'entries[1].timeUs'],
    [{ errorCode: 'C001 ABORTED' }, 'entries[1].errorCode'],
    [{ errorCode: 'x'.repeat(65) }, 'entries[1].errorCode'],
    [{ appVersion: 'v'.repeat(65) }, 'entries[1].appVersion'],
    [{ firmwareVersion: 'fw\u0007' }, 'entries[1].firmwareVersion'],
    [{ message: 'm'.repeat(8193) }, 'entries[1].message'],
    [{ component: 'bad component' }, 'entries[1].component'],
  ])('rejects %j on encode', (patch, field) => {
    expectProtocolError(() => codec.encode(withEntry(patch)), field);
  });

  it('rejects entry times out of range', () => {
    expectProtocolError(
      () => codec.decode(jsonWithEntry({ timeNs: '100' }), CONTENT_TYPE_JSON, opts),
      'entries[1].timeNs',
      /2000/,
    );
    const future = String((BigInt(FIXTURE_NOW_US) + 90_000_000_000n) * 1000n);
    expectProtocolError(
      () => codec.decode(jsonWithEntry({ timeNs: future }), CONTENT_TYPE_JSON, opts),
      'entries[1].timeNs',
      /future/,
    );
  });

  it('rejects wrong JSON types inside entries', () => {
    expectProtocolError(
      () => codec.decode(jsonWithEntry({ message: 42 }), CONTENT_TYPE_JSON, opts),
      'entries[1].message',
    );
    expectProtocolError(
      () => codec.decode(jsonBody({ serial: 's', entries: {} }), CONTENT_TYPE_JSON, opts),
      'entries',
      /array/,
    );
    expectProtocolError(
      () => codec.decode(jsonBody({ serial: 's', entries: ['x'] }), CONTENT_TYPE_JSON, opts),
      'entries[0]',
      /object/,
    );
  });

  it('rejects an empty or oversize batch', () => {
    expectProtocolError(() => codec.encode({ ...logBatchFixture, entries: [] }), 'entries', /empty/);
    const body = codec.encode(logBatchFixture);
    expectProtocolError(
      () => codec.decode(body, undefined, { ...opts, maxBatchSize: 1 }),
      'entries',
      /limit of 1/,
    );
  });

  it('rejects a bad serial', () => {
    expectProtocolError(() => codec.encode({ ...logBatchFixture, serial: 'a.b' }), 'serial');
  });
});
