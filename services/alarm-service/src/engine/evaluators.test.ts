import { describe, expect, it } from 'vitest';
import { compileRule } from '../rules/compile-rule.js';
import type { AnomalyRule, RateOfChangeRule, VibrationRule } from '../rules/rule-types.js';
import { createNoise } from '../testing/signals.js';
import {
  AnomalyEvaluator,
  ErrorBurstCounter,
  RateOfChangeEvaluator,
  type Sink,
  WindowThresholdEvaluator,
} from './evaluators.js';

const S = 1_000_000;

type Row = [number, number, number, boolean, boolean];
function collect(): { rows: Row[]; sink: Sink } {
  const rows: Row[] = [];
  return { rows, sink: (t, v, th, r, c) => rows.push([t, v, th, r, c]) };
}

describe('RateOfChangeEvaluator', () => {
  const ramp = compileRule({
    id: 'r',
    type: 'rate-of-change',
    channel: 'pressure',
    window: '1s',
    raise: '> 5',
    clear: '<= 2',
  }) as RateOfChangeRule;

  it('is the least-squares slope over the window, from half a window on; out-of-order samples are late', () => {
    const ev = new RateOfChangeEvaluator(ramp);
    const { rows, sink } = collect();
    // 6 units/s at 10 Hz: 0, 0.1 s, ... ; the first evaluation once 0.5 s are covered
    const times = Array.from({ length: 11 }, (_, i) => i * 0.1 * S);
    expect(ev.process([...times, 0.35 * S], [...times.map((t) => 100 + (6 * t) / S), 0], sink)).toBe(1);
    expect(rows[0]?.[0]).toBe(0.5 * S);
    for (const r of rows) {
      expect(r[1]).toBeCloseTo(6, 9);
      expect(r.slice(2)).toEqual([5, true, false]);
    }
    // flat afterwards: once the window holds only flat samples the slope is 0 and the clear holds
    const flat = Array.from({ length: 20 }, (_, i) => 1.1 * S + i * 0.1 * S);
    ev.process(
      flat,
      flat.map(() => 106),
      sink,
    );
    expect(rows.at(-1)).toEqual([3 * S, 0, 5, false, true]);
  });

  it('sampling 100 times faster does not make white noise look like a faster process', () => {
    const peak = (hz: number): number => {
      const rule = { ...ramp, window: { sizeUs: 5 * S, slideUs: 5 * S, allowedLatenessUs: 0 } };
      const ev = new RateOfChangeEvaluator(rule);
      const noise = createNoise(11);
      let max = 0;
      const n = Math.round(60 * hz);
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < n; i++) {
        ts.push(Math.round((i * S) / hz));
        vs.push(400 + 2 * noise());
      }
      ev.process(ts, vs, (_t, v) => {
        if (v > max) max = v;
      });
      return max;
    };
    const slow = peak(10);
    const fast = peak(1000);
    expect(slow).toBeLessThan(5); // sample-to-sample this would be up to 40/s
    expect(fast).toBeLessThanOrEqual(slow);
  });

  it('holds raises back until the settle time after a reset, clears are not held', () => {
    const ev = new RateOfChangeEvaluator(ramp);
    const { rows, sink } = collect();
    ev.reset(2 * S);
    const times = Array.from({ length: 30 }, (_, i) => i * 0.1 * S);
    ev.process(
      times,
      times.map((t) => (6 * t) / S),
      sink,
    );
    expect(rows.filter((r) => r[3] === true).every((r) => (r[0] as number) >= 2 * S)).toBe(true);
    expect(rows.some((r) => r[3] === true)).toBe(true);
  });
});

describe('AnomalyEvaluator', () => {
  const rule = compileRule({
    id: 'a',
    type: 'anomaly',
    channel: 'vibration',
    alpha: 0.5,
    zScore: 3,
    clearZScore: 1,
    warmupSamples: 4,
  }) as AnomalyRule;

  it('learns during warm-up without raising, then flags a spike and learns it clipped', () => {
    const ev = new AnomalyEvaluator(rule);
    const { rows, sink } = collect();
    // warm-up with a = max(0.5, 1/(n+1)):
    // 10: a=1   mean=10     var=0
    // 12: a=.5  mean=11     var=.5*(0+2*1)=1
    // 10: a=.5  mean=10.5   var=.5*(1+(-1)(-.5))=.75
    // 12: a=.5  mean=11.25  var=.5*(.75+1.5*.75)=.9375
    ev.process([1, 2, 3, 4], [10, 12, 10, 12], sink);
    expect(rows).toEqual([]);
    expect(ev.params.mean).toBeCloseTo(11.25, 12);
    expect(ev.params.variance).toBeCloseTo(0.9375, 12);
    expect(ev.params.count).toBe(4);

    // 20: sd = sqrt(.9375) = 0.968246, z = 8.75/0.968246 = 9.037 > 3
    const sd = Math.sqrt(0.9375);
    const limit = 11.25 + 3 * sd; // 14.154738
    ev.process([5], [20], sink);
    expect(rows).toHaveLength(1);
    const [t, v, th, raise, clear] = rows[0] as Row;
    expect([t, v, raise, clear]).toEqual([5, 20, true, false]);
    expect(th).toBeCloseTo(limit, 9);
    // learned as the clipped value: diff = 3*sd, mean += .5*diff, var = .5*(var + diff*diff*.5)
    const diff = 3 * sd;
    expect(ev.params.mean).toBeCloseTo(11.25 + 0.5 * diff, 9);
    expect(ev.params.variance).toBeCloseTo(0.5 * (0.9375 + diff * diff * 0.5), 9);
    expect(ev.dirty).toBe(true);
  });

  it('says "clear" only within clearZScore', () => {
    const ev = new AnomalyEvaluator(rule, { mean: 0, variance: 4, count: 100, lastTimeUs: 0 });
    const { rows, sink } = collect();
    ev.process([1], [1.9], sink); // z = 0.95 <= 1
    expect(rows[0]?.slice(3)).toEqual([false, true]);
    const ev2 = new AnomalyEvaluator(rule, { mean: 0, variance: 4, count: 100, lastTimeUs: 0 });
    ev2.process([1], [-4], sink); // z = 2: neither raise (> 3) nor clear (<= 1)
    expect(rows[1]?.slice(1)).toEqual([-4, -6, false, false]);
  });

  it('resumes from persisted parameters (no warm-up again)', () => {
    const ev = new AnomalyEvaluator(rule, { mean: 50, variance: 1, count: 1000, lastTimeUs: 10 });
    const { rows, sink } = collect();
    ev.process([5, 20], [99, 55], sink); // t=5 is older than the model: late; 55 -> z = 5
    expect(rows.map((r) => [r[0], r[3]])).toEqual([[20, true]]);
  });
});

describe('WindowThresholdEvaluator.vibration', () => {
  it('uses the ISO 10816 zone boundary of the machine class and clears below limit * clearRatio', () => {
    const rule = compileRule({
      id: 'v',
      type: 'vibration',
      machineClass: 'II',
      zone: 'C',
      window: '1s',
      clearRatio: 0.5,
    }) as VibrationRule;
    const ev = WindowThresholdEvaluator.vibration(rule);
    const { rows, sink } = collect();
    // window [0,1s): 3, 3 -> rms 3 > 2.8 (class II zone C); [1s,2s): 2,2 -> 2 (between 1.4 and 2.8)
    // [2s,3s): 1 -> 1 <= 1.4
    ev.process([0, 0.5 * S, 1 * S, 1.5 * S, 2 * S, 3 * S], [3, 3, 2, 2, 1, 0], sink);
    expect(rows).toEqual([
      [1 * S, 3, 2.8, true, false],
      [2 * S, 2, 2.8, false, false],
      [3 * S, 1, 2.8, false, true],
    ]);
  });
});

describe('ErrorBurstCounter', () => {
  const rule = compileRule({ id: 'e', type: 'error-burst', perCode: true, raise: '>= 3' });
  if (rule.type !== 'error-burst') throw new Error('bad fixture');

  it('counts ERROR entries per code in 1-minute windows, emitted 3 s after the window end', () => {
    const c = new ErrorBurstCounter(rule);
    const emitted: Array<[string, number, number]> = [];
    const emit = (code: string, n: number, end: number) => emitted.push([code, n, end]);
    c.add(1 * S, true, 'C001', 0);
    c.add(2 * S, true, 'C002', 0);
    c.add(30 * S, false, 'C001', 0); // WARN/INFO do not count
    c.add(59 * S, true, 'C001', 0);
    c.add(62 * S, true, 'C001', 0); // next window; watermark 59 s
    c.advance([], emit);
    expect(emitted).toEqual([]);
    expect(c.add(58 * S, true, 'C001', 0)).toBe(true); // 4 s late but the window is still open
    c.add(63 * S, false, '', 0); // watermark 60 s: closes [0, 60 s)
    c.advance([], emit);
    expect(emitted).toEqual([
      ['C001', 3, 60 * S],
      ['C002', 1, 60 * S],
    ]);
    expect(c.add(59.9 * S, true, 'C001', 0)).toBe(false); // window closed: late
    expect(c.add(59.9 * S, false, 'C001', 0)).toBe(true); // a late INFO is not an error to lose
  });

  it('reports 0 for tracked codes and closes the last window of a sensor that went quiet', () => {
    const c = new ErrorBurstCounter(rule);
    const emitted: Array<[string, number, number]> = [];
    const emit = (code: string, n: number, end: number) => emitted.push([code, n, end]);
    c.add(10 * S, true, 'C007', 1000 * S); // arrived at wall time 1000 s
    c.advance(['C001'], emit, 1040 * S); // watermark 10 + 40 - 3 = 47 s: still open
    expect(emitted).toEqual([]);
    c.advance(['C001'], emit, 1053 * S); // 10 + 53 - 3 = 60 s
    expect(emitted).toEqual([
      ['C001', 0, 60 * S],
      ['C007', 1, 60 * S],
    ]);
  });
});
