import { describe, expect, it } from 'vitest';
import { ChannelSeriesStore, SERIES_BUCKET_MS, SERIES_BUCKETS } from './channel-series.js';

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % SERIES_BUCKET_MS);

describe('ChannelSeriesStore', () => {
  it('averages per bucket per channel, oldest first, null where nothing came', () => {
    const s = new ChannelSeriesStore();
    s.add('p-1', 'vibration', [1, 3], T0);
    s.add('p-1', 'vibration', [5], T0 + 100);
    s.add('p-1', 'vibration', [10], T0 + 2 * SERIES_BUCKET_MS);
    s.add('p-1', 'temperature', [20], T0 + 2 * SERIES_BUCKET_MS);
    const [temperature, vibration] = s.series('p-1', T0 + 2 * SERIES_BUCKET_MS);
    expect(vibration?.values).toHaveLength(SERIES_BUCKETS);
    expect(vibration?.values.slice(-3)).toEqual([3, null, 10]);
    expect(temperature?.values.slice(-3)).toEqual([null, null, 20]);
    expect(vibration?.from).toBe(new Date(T0 - (SERIES_BUCKETS - 3) * SERIES_BUCKET_MS).toISOString());
    expect(s.series('nobody', T0)).toEqual([]);
  });

  it('forgets what left the window, even after a long silence', () => {
    const s = new ChannelSeriesStore();
    s.add('p-1', 'v', [7], T0);
    const later = T0 + SERIES_BUCKETS * SERIES_BUCKET_MS;
    expect(s.series('p-1', later)[0]?.values.every((v) => v === null)).toBe(true);
    s.add('p-1', 'v', [2], later);
    expect(s.series('p-1', later)[0]?.values.at(-1)).toBe(2);
    expect(s.series('p-1', later)[0]?.values.filter((v) => v !== null)).toEqual([2]);
  });
});

describe('ChannelSeriesStore bounds', () => {
  it('forgets the sensors fed least recently, never growing past its bounds', () => {
    let evicted = 0;
    const s = new ChannelSeriesStore({ maxSensors: 50, maxKeys: 80, onEvict: () => evicted++ });
    for (let i = 0; i < 1_000; i++) s.add(`flood-${i}`, 'v', [1], T0);
    expect(s.sensors).toBe(50);
    expect(evicted).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) {
      s.add(`two-${i}`, 'a', [1], T0);
      s.add(`two-${i}`, 'b', [1], T0);
    }
    expect(s.sensors).toBeLessThanOrEqual(50);
    expect(s.series('two-99', T0)).toHaveLength(2);
    expect(s.series('flood-0', T0)).toEqual([]);
  });
});
