/** One sample of one series (a service's RSS, a queue's depth, ...). */
export interface SoakSeries {
  name: string;
  unit: 'MB' | 'ms' | 'messages';
  values: number[];
}

export interface GrowthVerdict {
  name: string;
  /** Median of the middle third and of the last third of the run (the first third is warm-up). */
  middle: number;
  last: number;
  grew: boolean;
  reason: string;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Unbounded growth: the last third of the run is clearly above the middle third (the first third is the
 * warm-up: caches, JIT, pools filling). Thresholds per unit, relative and absolute, so noise on small
 * numbers does not fail a run: RSS +25% and +40 MB; event-loop delay x3 and +50 ms; queue depth x3 and
 * +5,000 messages (a backlog that keeps building).
 */
export function judgeGrowth(s: SoakSeries): GrowthVerdict {
  const n = s.values.length;
  const middle = median(s.values.slice(Math.floor(n / 3), Math.floor((2 * n) / 3)));
  const last = median(s.values.slice(Math.floor((2 * n) / 3)));
  const rules = {
    MB: { factor: 1.25, absolute: 40 },
    ms: { factor: 3, absolute: 50 },
    messages: { factor: 3, absolute: 5_000 },
  }[s.unit];
  if (n < 6 || !Number.isFinite(middle) || !Number.isFinite(last)) {
    return { name: s.name, middle, last, grew: false, reason: 'too few samples to judge' };
  }
  const grew = last > middle * rules.factor && last - middle > rules.absolute;
  return {
    name: s.name,
    middle,
    last,
    grew,
    reason: grew
      ? `grew from ${middle.toFixed(1)} to ${last.toFixed(1)} ${s.unit} (more than x${rules.factor} and +${rules.absolute})`
      : `${middle.toFixed(1)} -> ${last.toFixed(1)} ${s.unit}`,
  };
}
