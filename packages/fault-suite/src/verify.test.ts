import { describe, expect, it } from 'vitest';
import type { ConfirmedGood, ConfirmedMalformed } from './load-generator.js';
import { checkDeadLetters, checkStored, type StoredGroup } from './verify.js';

const good = (serial: string, seq: number, rows = 10, checksum = 45): ConfirmedGood => ({
  kind: 'data',
  serial,
  seq,
  rows,
  checksum,
});

describe('checkStored', () => {
  it('counts missing rows, extra rows and wrong checksums message by message', () => {
    const stored = new Map<string, StoredGroup>([
      ['a/0', { rows: 10, checksum: 45 }],
      ['a/1', { rows: 7, checksum: 30 }],
      ['a/2', { rows: 11, checksum: 50 }],
      ['a/3', { rows: 10, checksum: 44 }],
      ['b/9', { rows: 3, checksum: 1 }],
    ]);
    const r = checkStored(
      [good('a', 0), good('a', 1), good('a', 2), good('a', 3), good('a', 4), good('a', 0)],
      stored,
      'data',
    );
    expect(r).toMatchObject({
      confirmed: 50,
      stored: 37,
      missing: 13,
      duplicates: 1,
      wrongChecksum: 1,
      unexpected: 3,
    });
    expect(r.examples).toHaveLength(4);
  });

  it('reports nothing when every confirmed message is stored exactly', () => {
    const stored = new Map<string, StoredGroup>([['a/0', { rows: 10, checksum: 45 }]]);
    expect(checkStored([good('a', 0)], stored, 'data')).toMatchObject({
      missing: 0,
      duplicates: 0,
      wrongChecksum: 0,
    });
  });
});

describe('checkDeadLetters', () => {
  const bad = (id: string): ConfirmedMalformed => ({
    id,
    malformed: 'empty',
    reason: /^PROTOCOL_INVALID: body: is empty/,
  });

  it('finds missing, wrongly explained and good dead letters, and extra copies', () => {
    const r = checkDeadLetters(
      [bad('bad-1'), bad('bad-2'), bad('bad-3')],
      [
        {
          messageId: 'bad-1',
          reason: 'PROTOCOL_INVALID: body: is empty; expected a MeasurementBatch',
          routingKey: 'k',
        },
        {
          messageId: 'bad-1',
          reason: 'PROTOCOL_INVALID: body: is empty; expected a MeasurementBatch',
          routingKey: 'k',
        },
        { messageId: 'bad-2', reason: 'PROTOCOL_INVALID: serial: must match', routingKey: 'k' },
        { messageId: 'good-data-a-1', reason: undefined, routingKey: 'k' },
      ],
    );
    expect(r).toMatchObject({
      expected: 3,
      found: 2,
      missing: 1,
      wrongReason: 1,
      goodDeadLettered: 1,
      extraCopies: 1,
    });
  });
});
