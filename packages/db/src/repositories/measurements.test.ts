import { describe, expect, it } from 'vitest';
import { PG_EPOCH_OFFSET_US } from './binary-copy.js';
import { countSamples, encodeMeasurementsCopy, isRowDataError } from './measurements.js';

function readInt64(b: Buffer, at: number): number {
  return Number(b.readBigInt64BE(at));
}

describe('encodeMeasurementsCopy', () => {
  it('writes the binary COPY header, one 4-field tuple per sample and the trailer', () => {
    const timeUs = Date.UTC(2026, 0, 2, 3, 4, 5) * 1000 + 678;
    const buf = encodeMeasurementsCopy([
      { sensorId: 7, channel: 'vibration', timesUs: [timeUs, timeUs + 1000], values: [1.5, -2.25] },
    ]);

    expect(buf.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
    expect(buf.readInt32BE(11)).toBe(0); // flags
    expect(buf.readInt32BE(15)).toBe(0); // header extension
    let at = 19;
    const rows: Array<[number, string, number, number]> = [];
    while (buf.readInt16BE(at) !== -1) {
      expect(buf.readInt16BE(at)).toBe(4);
      at += 2;
      expect(buf.readInt32BE(at)).toBe(8);
      const id = readInt64(buf, at + 4);
      at += 12;
      const len = buf.readInt32BE(at);
      const channel = buf.subarray(at + 4, at + 4 + len).toString('utf8');
      at += 4 + len;
      expect(buf.readInt32BE(at)).toBe(8);
      const pgUs = readInt64(buf, at + 4);
      at += 12;
      expect(buf.readInt32BE(at)).toBe(8);
      const value = buf.readDoubleBE(at + 4);
      at += 12;
      rows.push([id, channel, pgUs + PG_EPOCH_OFFSET_US, value]);
    }
    expect(at + 2).toBe(buf.length); // exact size, trailer last
    expect(rows).toEqual([
      [7, 'vibration', timeUs, 1.5],
      [7, 'vibration', timeUs + 1000, -2.25],
    ]);
  });

  it('encodes times before 2000 (negative PostgreSQL microseconds) and large sensor ids', () => {
    const buf = encodeMeasurementsCopy([
      { sensorId: 2 ** 40 + 3, channel: 'c', timesUs: [0, -1], values: [0, 0] },
    ]);
    expect(readInt64(buf, 19 + 2 + 4)).toBe(2 ** 40 + 3);
    const firstTime = 19 + 2 + 12 + 5;
    expect(readInt64(buf, firstTime + 4)).toBe(-PG_EPOCH_OFFSET_US);
    const secondTime = firstTime + 12 + 12 + 2 + 12 + 5;
    expect(readInt64(buf, secondTime + 4)).toBe(-PG_EPOCH_OFFSET_US - 1);
  });

  it('rejects a series whose times and values differ in length', () => {
    expect(() =>
      encodeMeasurementsCopy([{ sensorId: 1, channel: 'x', timesUs: [1, 2], values: [1] }]),
    ).toThrow(/2 times but 1 values/);
  });

  it('counts samples over every series', () => {
    expect(
      countSamples([
        { sensorId: 1, channel: 'a', timesUs: [1, 2], values: [1, 2] },
        { sensorId: 2, channel: 'b', timesUs: [1], values: [1] },
      ]),
    ).toBe(3);
  });
});

describe('isRowDataError', () => {
  it('is true for data exceptions and integrity violations other than duplicates', () => {
    expect(isRowDataError({ code: '22021' })).toBe(true);
    expect(isRowDataError({ code: '23502' })).toBe(true);
    expect(isRowDataError({ code: '23505' })).toBe(false);
    expect(isRowDataError({ code: '57P01' })).toBe(false);
    expect(isRowDataError(new Error('socket closed'))).toBe(false);
  });
});
