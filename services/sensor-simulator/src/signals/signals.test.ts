import { describe, expect, it } from 'vitest';
import { createPrng } from '../prng.js';
import { environmentKind } from './environment.js';
import { processKind } from './process.js';
import type { KindSpec, SignalOptions } from './signal-model.js';
import { VibrationModel, vibrationKind } from './vibration.js';

const T0 = Date.UTC(2026, 5, 1) * 1000;

function run(
  kind: KindSpec,
  opts: Partial<SignalOptions>,
  hz: number,
  seconds: number,
  fromS = 0,
): number[][] {
  const model = kind.createModel({ prng: createPrng(7), originUs: T0, ...opts });
  const out: number[][] = kind.channels.map(() => []);
  const v = kind.channels.map(() => 0);
  const n = Math.round(hz * seconds);
  for (let i = 0; i < n; i++) {
    model.sample(T0 + fromS * 1e6 + (i * 1e6) / hz, v);
    for (let c = 0; c < v.length; c++) out[c]!.push(v[c]!);
  }
  return out;
}

const rms = (xs: number[]): number => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);
const min = (xs: number[]): number => xs.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
const max = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);

describe('vibration', () => {
  it('stays in a healthy machine range (|v| < 15 mm/s, RMS 1..5 mm/s)', () => {
    const [v] = run(vibrationKind, {}, 1000, 10);
    expect(max(v!.map(Math.abs))).toBeLessThan(15);
    expect(rms(v!)).toBeGreaterThan(1);
    expect(rms(v!)).toBeLessThan(5);
  });

  it('contains the 60 Hz machine harmonic', () => {
    const [v] = run(vibrationKind, {}, 1000, 2);
    // Correlate with sin/cos at 60 Hz and at 37 Hz (not a harmonic).
    const power = (hz: number): number => {
      let s = 0;
      let c = 0;
      v!.forEach((x, i) => {
        s += x * Math.sin((2 * Math.PI * hz * i) / 1000);
        c += x * Math.cos((2 * Math.PI * hz * i) / 1000);
      });
      return Math.hypot(s, c) / v!.length;
    };
    expect(power(60)).toBeGreaterThan(0.5);
    expect(power(37)).toBeLessThan(0.1);
  });

  it('grows in amplitude as a bearing fault develops', () => {
    const growth = 600;
    const early = run(vibrationKind, { bearingFaultGrowthS: growth }, 1000, 5, 0)[0]!;
    const mid = run(vibrationKind, { bearingFaultGrowthS: growth }, 1000, 5, 300)[0]!;
    const late = run(vibrationKind, { bearingFaultGrowthS: growth }, 1000, 5, 900)[0]!;
    expect(rms(mid)).toBeGreaterThan(rms(early) * 1.8);
    expect(rms(late)).toBeGreaterThan(rms(mid) * 1.4);
    const m = new VibrationModel({ prng: createPrng(1), originUs: T0, bearingFaultGrowthS: growth });
    expect(m.severity(T0)).toBe(0);
    expect(m.severity(T0 + 300e6)).toBeCloseTo(0.5);
    expect(m.severity(T0 + 3600e6)).toBe(1);
  });
});

describe('environment', () => {
  it('gives realistic temperature, absolute pressure and humidity over two days', () => {
    const [temp, pressure, humidity] = run(environmentKind, {}, 1 / 60, 2 * 86_400);
    expect(min(temp!)).toBeGreaterThan(-10);
    expect(max(temp!)).toBeLessThan(40);
    expect(min(pressure!)).toBeGreaterThan(95);
    expect(max(pressure!)).toBeLessThan(107);
    expect(min(humidity!)).toBeGreaterThanOrEqual(0);
    expect(max(humidity!)).toBeLessThanOrEqual(100);
  });

  it('drifts over the day: afternoon is warmer than early morning', () => {
    const [temp] = run(environmentKind, {}, 1 / 60, 86_400);
    const at = (h: number): number => temp![h * 60]!;
    expect(at(15)).toBeGreaterThan(at(3) + 5);
  });
});

describe('process', () => {
  it('cycles temperature and absolute pressure within a production machine range', () => {
    const [temp, pressure] = run(processKind, {}, 1, 3600);
    expect(min(temp!)).toBeGreaterThan(50);
    expect(max(temp!)).toBeLessThan(95);
    expect(min(pressure!)).toBeGreaterThan(300);
    expect(max(pressure!)).toBeLessThan(650);
    expect(max(temp!) - min(temp!)).toBeGreaterThan(10); // it really cycles
  });
});
