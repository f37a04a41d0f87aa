import { describe, expect, it } from 'vitest';
import { AlarmLatch } from './alarm-latch.js';

describe('AlarmLatch', () => {
  it('raises once while the condition holds and ignores values between the limits', () => {
    const latch = new AlarmLatch(0, 0);
    expect(latch.evaluate(1, true, false)).toBe('RAISE');
    expect(latch.evaluate(2, true, false)).toBeUndefined(); // still raised: no second RAISE
    expect(latch.evaluate(3, false, false)).toBeUndefined(); // between raise and clear limit: stays
    expect(latch.evaluate(4, true, false)).toBeUndefined();
    expect(latch.evaluate(5, false, true)).toBe('CLEAR');
    expect(latch.evaluate(6, false, true)).toBeUndefined();
    expect(latch.evaluate(7, true, false)).toBe('RAISE'); // a new episode
  });

  it('raises only after the condition held for raiseFor and clears only after clearFor', () => {
    const latch = new AlarmLatch(10, 100);
    expect(latch.evaluate(0, true, false)).toBeUndefined();
    expect(latch.evaluate(5, false, true)).toBeUndefined(); // interrupted: the clock restarts
    expect(latch.evaluate(20, true, false)).toBeUndefined();
    expect(latch.evaluate(29, true, false)).toBeUndefined(); // held 9 µs
    expect(latch.evaluate(30, true, false)).toBe('RAISE'); // held 10 µs
    expect(latch.evaluate(40, false, true)).toBeUndefined();
    expect(latch.evaluate(139, false, true)).toBeUndefined(); // clear held 99 µs
    expect(latch.evaluate(140, true, false)).toBeUndefined(); // a value over the limit resets the clear clock
    expect(latch.evaluate(150, false, true)).toBeUndefined();
    expect(latch.evaluate(249, false, true)).toBeUndefined();
    expect(latch.evaluate(250, false, true)).toBe('CLEAR');
  });

  it('can be seeded as active and then only clears', () => {
    const latch = new AlarmLatch(0, 0);
    latch.setActive();
    expect(latch.evaluate(1, true, false)).toBeUndefined();
    expect(latch.evaluate(2, false, true)).toBe('CLEAR');
  });
});

describe('AlarmLatch: chattering', () => {
  it('the third raise within a minute flags it and holds it until the clear condition held a minute', () => {
    const S = 1_000_000;
    const latch = new AlarmLatch(0, 0, { raises: 3, withinUs: 60 * S });
    const seen: Array<[number, string]> = [];
    // the condition flaps every 5 s for 2 minutes
    for (let t = 0; t < 120; t += 5) {
      const on = (t / 5) % 2 === 0;
      const d = latch.evaluate(t * S, on, !on);
      if (d) seen.push([t, d]);
    }
    // raise, clear, raise, clear, raise (chattering now): held, no further clear while it flaps
    expect(seen).toEqual([
      [0, 'RAISE'],
      [5, 'CLEAR'],
      [10, 'RAISE'],
      [15, 'CLEAR'],
      [20, 'RAISE'],
    ]);
    expect(latch.chattering).toBe(true);
    // the last flap (115 s) was clear; from then on it stays calm: it clears once that held 60 s
    expect(latch.evaluate(170 * S, false, true)).toBeUndefined();
    expect(latch.evaluate(175 * S, false, true)).toBe('CLEAR');
    expect(latch.chattering).toBe(false);
  });
});
