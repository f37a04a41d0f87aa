import type { MeasurementBatch } from '@sensor-streaming/protocol';
import { sampleTimesUs } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import type { FaultKind } from './faults.js';
import { SITES } from './position.js';
import { SimulatedSensor } from './sensor.js';

const T0 = 1_780_000_000_000_000;
const S = 1_000_000;

function sensor(faults: FaultKind[], seed = 3): SimulatedSensor {
  return new SimulatedSensor(
    {
      serial: 'f-1',
      kind: 'process',
      site: SITES[1]!,
      machine: 'press-01',
      firmware: 'proc-3.1.0',
      frequencyHz: 10,
      faults,
      seed,
    },
    T0,
  );
}

/** Collects `seconds` of data in 1 s flushes. */
function collect(s: SimulatedSensor, seconds: number): MeasurementBatch[] {
  const out: MeasurementBatch[] = [];
  for (let i = 1; i <= seconds; i++) out.push(...s.collect(T0 + i * S));
  return out;
}
const values = (bs: MeasurementBatch[], ch = 'temperature'): number[] =>
  bs.filter((b) => b.channel === ch).flatMap((b) => b.values);

describe('fault injection', () => {
  it('without faults, produces every sample and no error logs', () => {
    const s = sensor([]);
    const bs = collect(s, 240);
    expect(values(bs)).toHaveLength(2400);
    expect(s.takeLogs(T0 + 240 * S)?.entries.filter((e) => e.level === 'ERROR') ?? []).toEqual([]);
  });

  it('spike: some samples jump far outside the normal range and an ERROR log reports them', () => {
    const s = sensor(['spike']);
    const v = values(collect(s, 60));
    const clean = values(collect(sensor([]), 60));
    const outliers = v.filter((x) => x > Math.max(...clean) + 30 || x < Math.min(...clean) - 30);
    expect(outliers.length).toBeGreaterThan(0);
    const logs = s.takeLogs(T0 + 60 * S)!.entries;
    expect(logs.some((e) => e.level === 'ERROR' && e.errorCode === 'C004_OUT_OF_RANGE')).toBe(true);
  });

  it('stuck: the value freezes for a whole episode and an ERROR log says so', () => {
    const s = sensor(['stuck']);
    const v = values(collect(s, 240));
    let run = 1;
    let longest = 1;
    for (let i = 1; i < v.length; i++) {
      run = v[i] === v[i - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeGreaterThanOrEqual(299); // 30 s at 10 Hz
    expect(s.takeLogs(T0 + 240 * S)!.entries.some((e) => e.errorCode === 'C005_STUCK_VALUE')).toBe(true);
  });

  it('drift: the mean moves steadily away', () => {
    const s = sensor(['drift']);
    const ref = sensor([]);
    const a = values(collect(s, 3600));
    const b = values(collect(ref, 3600));
    const lastMin = (xs: number[]): number => xs.slice(-600).reduce((p, x) => p + x, 0) / 600;
    expect(lastMin(a) - lastMin(b)).toBeGreaterThan(10);
  });

  it('dropout: samples go missing, batches carry explicit sample times and a signal-lost ERROR is logged', () => {
    const s = sensor(['dropout']);
    const bs = collect(s, 240);
    const temps = bs.filter((b) => b.channel === 'temperature');
    const n = temps.reduce((p, b) => p + b.values.length, 0);
    expect(n).toBeLessThan(2400 - 290);
    expect(n).toBeGreaterThan(1000);
    const irregular = temps.filter((b) => b.sampleTimesUs !== undefined);
    for (const b of irregular) expect(sampleTimesUs(b)).toHaveLength(b.values.length);
    expect(s.takeLogs(T0 + 240 * S)!.entries.some((e) => e.errorCode === 'C007_SIGNAL_LOST')).toBe(true);
  });

  it('errorburst: a burst of ERROR logs with C0xx codes every period', () => {
    const s = sensor(['errorburst']);
    s.collect(T0 + 130 * S);
    const errors = s.takeLogs(T0 + 130 * S)!.entries.filter((e) => e.level === 'ERROR');
    expect(errors.length).toBeGreaterThanOrEqual(20);
    for (const e of errors) expect(e.errorCode).toMatch(/^C0(0[1-9]|1[0-4])_[A-Z_]+$/);
  });

  it('is deterministic for a given seed', () => {
    expect(values(collect(sensor(['spike', 'drift'], 9), 5))).toEqual(
      values(collect(sensor(['spike', 'drift'], 9), 5)),
    );
  });
});
