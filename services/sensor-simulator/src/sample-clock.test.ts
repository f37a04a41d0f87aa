import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SampleClock } from './sample-clock.js';

describe('SampleClock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('yields exactly 360,000 samples for one hour at 100 Hz, whatever the timers do', () => {
    const startUs = Date.now() * 1000;
    const clock = new SampleClock(100, startUs);
    let total = 0;
    let lastEnd = startUs - 1;
    // A 1 s flush timer whose callbacks run late by a varying amount: counting ticks would drift.
    let late = 0;
    const tick = (): void => {
      const run = clock.take(Date.now() * 1000);
      if (run) {
        expect(run.firstTimeUs).toBeGreaterThan(lastEnd);
        total += run.count;
        lastEnd = run.firstTimeUs + (run.count - 1) * run.periodUs;
      }
      late = (late + 37) % 250;
      setTimeout(tick, 1000 + late);
    };
    setTimeout(tick, 1000);
    vi.advanceTimersByTime(3_600_000);
    // Whatever is still due when the hour ends.
    const rest = clock.take(startUs + 3_600_000_000);
    total += rest?.count ?? 0;
    expect(total).toBe(360_000);
    expect(clock.nextTimeUs()).toBe(startUs + 3_600_000_000);
  });

  it('timestamps sample k at start + k * period, independent of when it is taken', () => {
    const clock = new SampleClock(3, 1_000_000);
    const a = clock.take(1_000_000 + 1_000_000)!; // samples at 0, 1/3, 2/3 s
    expect(a.count).toBe(3);
    expect(a.firstTimeUs).toBe(1_000_000);
    const b = clock.take(1_000_000 + 10_000_000)!;
    expect(b.firstIndex).toBe(3);
    expect(b.firstTimeUs).toBeCloseTo(2_000_000, 6);
    expect(b.count).toBe(27);
  });

  it('uses half-open intervals: a sample exactly at the limit is not yet due', () => {
    const clock = new SampleClock(10, 0);
    expect(clock.due(100_000)).toBe(1);
    expect(clock.due(100_001)).toBe(2);
    expect(clock.due(0)).toBe(0);
  });

  it('takes at most max samples per call and keeps the rest due', () => {
    const clock = new SampleClock(1000, 0);
    expect(clock.take(1_000_000, 300)!.count).toBe(300);
    expect(clock.due(1_000_000)).toBe(700);
  });

  it('restarts at a new frequency with sample 0 at the restart instant', () => {
    const clock = new SampleClock(10, 0);
    clock.take(500_000);
    clock.restart(500_000, 50);
    const run = clock.take(1_500_000)!;
    expect(run.firstTimeUs).toBe(500_000);
    expect(run.count).toBe(50);
    expect(run.periodUs).toBe(20_000);
  });

  it('drops an excessive backlog, keeping the newest samples', () => {
    const clock = new SampleClock(100, 0);
    expect(clock.dropBacklog(10_000_000, 100)).toBe(900);
    const run = clock.take(10_000_000)!;
    expect(run.count).toBe(100);
    expect(run.firstTimeUs).toBe(9_000_000);
  });

  it('rejects non-positive frequencies', () => {
    expect(() => new SampleClock(0, 0)).toThrow(RangeError);
    expect(() => new SampleClock(Number.NaN, 0)).toThrow(RangeError);
  });
});
