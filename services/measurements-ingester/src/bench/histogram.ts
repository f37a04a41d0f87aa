/** Cumulative Prometheus histogram buckets: upper bound -> count (le="+Inf" as Infinity). */
export type Buckets = Map<number, number>;

/** The buckets of `metric` (summed over label sets that match `labels`) from Prometheus text format. */
export function parseHistogram(text: string, metric: string, labels: Record<string, string> = {}): Buckets {
  const out: Buckets = new Map();
  const prefix = `${metric}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(prefix.length, close);
    const pairs = new Map<string, string>();
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      pairs.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).some(([k, v]) => pairs.get(k) !== v)) continue;
    const le = pairs.get('le');
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    const value = Number(line.slice(close + 1).trim());
    out.set(bound, (out.get(bound) ?? 0) + value);
  }
  return out;
}

/** `after - before`, bucket by bucket (observations made between two scrapes). */
export function diffBuckets(after: Buckets, before: Buckets): Buckets {
  const out: Buckets = new Map();
  for (const [le, n] of after) out.set(le, n - (before.get(le) ?? 0));
  return out;
}

/**
 * The q-quantile by linear interpolation inside the bucket that holds it (as
 * PromQL's histogram_quantile). Undefined without observations; the largest
 * finite bound when the quantile falls in the +Inf bucket.
 */
export function histogramQuantile(q: number, buckets: Buckets): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      const inBucket = count - prevCount;
      if (inBucket <= 0) return bound;
      return prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** The value of a counter (summed over label sets matching `labels`). */
export function parseCounter(text: string, metric: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest.lastIndexOf('}');
    const labelText = rest[0] === '{' ? rest.slice(1, close) : '';
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (ok) sum += Number(rest.slice(close + 1).trim());
  }
  return sum;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
