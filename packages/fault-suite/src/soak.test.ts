import { describe, expect, it } from 'vitest';
import { judgeGrowth } from './soak.js';

describe('judgeGrowth', () => {
  it('passes a series that levels off after the warm-up', () => {
    const rss = [60, 80, 95, 100, 101, 99, 102, 100, 101, 100, 102, 101];
    expect(judgeGrowth({ name: 'rss', unit: 'MB', values: rss }).grew).toBe(false);
  });

  it('fails a series that keeps climbing', () => {
    const rss = [60, 80, 100, 120, 140, 160, 180, 200, 220, 240, 260, 280];
    const v = judgeGrowth({ name: 'rss', unit: 'MB', values: rss });
    expect(v.grew).toBe(true);
    expect(v.reason).toMatch(/^grew from 170\.0 to 250\.0 MB/);
  });

  it('ignores relative growth on small numbers (a queue going from 2 to 40 messages)', () => {
    const q = [0, 1, 2, 2, 1, 2, 3, 30, 40, 45, 50, 40];
    expect(judgeGrowth({ name: 'q', unit: 'messages', values: q }).grew).toBe(false);
  });

  it('fails a backlog that keeps building', () => {
    const q = [0, 500, 1000, 3000, 5000, 7000, 9000, 12000, 20000, 30000, 40000, 50000];
    expect(judgeGrowth({ name: 'q', unit: 'messages', values: q }).grew).toBe(true);
  });

  it('does not judge a run with fewer than 6 samples', () => {
    expect(judgeGrowth({ name: 'q', unit: 'MB', values: [1, 2, 300] }).reason).toBe(
      'too few samples to judge',
    );
  });
});
