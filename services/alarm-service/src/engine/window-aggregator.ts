import type { Aggregate, WindowSpec } from '../rules/rule-types.js';

interface Pane {
  count: number;
  sum: number;
  sumSq: number;
  min: number;
  max: number;
}

export interface WindowSnapshot {
  sizeUs: number;
  slideUs: number;
  maxEventUs: number;
  nextEndUs: number;
  /** [pane index, count, sum, sumSq, min, max] */
  panes: Array<[number, number, number, number, number, number]>;
}

export interface WindowResult {
  /** Window [startUs, endUs). */
  startUs: number;
  endUs: number;
  count: number;
  value: number;
}

/**
 * Event-time windowed aggregate (tumbling when slide == size, sliding/hopping
 * otherwise), built from panes of one slide each. The watermark is the newest
 * event time seen minus the allowed lateness; a window [s, e) is emitted once
 * the watermark reaches e. An event older than the end of the last emitted
 * window is late: it is not counted (and `add` returns false so the caller can
 * count it in a metric).
 */
export class WindowAggregator {
  private readonly panes = new Map<number, Pane>();
  private maxEventUs = Number.NEGATIVE_INFINITY;
  /** End of the next window to emit; undefined until the first event. */
  private nextEndUs: number | undefined;
  private readonly panesPerWindow: number;

  constructor(
    private readonly spec: WindowSpec,
    private readonly aggregate: Aggregate,
  ) {
    this.panesPerWindow = Math.max(1, Math.round(spec.sizeUs / spec.slideUs));
  }

  /** Open panes and the watermark, as JSON (alarm_window_state). */
  snapshot(): WindowSnapshot | undefined {
    if (this.nextEndUs === undefined || this.panes.size === 0) return undefined;
    return {
      sizeUs: this.spec.sizeUs,
      slideUs: this.spec.slideUs,
      maxEventUs: this.maxEventUs,
      nextEndUs: this.nextEndUs,
      panes: [...this.panes].map(([i, p]) => [i, p.count, p.sum, p.sumSq, p.min, p.max]),
    };
  }

  /** Continues from a snapshot of the same window shape (false: shape changed, ignored). */
  restore(s: WindowSnapshot): boolean {
    if (s.sizeUs !== this.spec.sizeUs || s.slideUs !== this.spec.slideUs) return false;
    this.maxEventUs = s.maxEventUs;
    this.nextEndUs = s.nextEndUs;
    this.panes.clear();
    for (const [i, count, sum, sumSq, min, max] of s.panes)
      this.panes.set(i, { count, sum, sumSq, min, max });
    return true;
  }

  get watermarkUs(): number {
    return this.maxEventUs - this.spec.allowedLatenessUs;
  }

  /** Adds one sample; false when it is late (its windows were already emitted). */
  add(timeUs: number, value: number): boolean {
    const slide = this.spec.slideUs;
    const paneIdx = Math.floor(timeUs / slide);
    if (this.nextEndUs === undefined) {
      this.nextEndUs = (paneIdx + 1) * slide;
    } else if (timeUs < this.nextEndUs - slide) {
      return false;
    }
    let pane = this.panes.get(paneIdx);
    if (pane === undefined) {
      pane = { count: 0, sum: 0, sumSq: 0, min: value, max: value };
      this.panes.set(paneIdx, pane);
    }
    pane.count++;
    pane.sum += value;
    pane.sumSq += value * value;
    if (value < pane.min) pane.min = value;
    if (value > pane.max) pane.max = value;
    if (timeUs > this.maxEventUs) this.maxEventUs = timeUs;
    return true;
  }

  /** Emits every window the watermark has passed, oldest first (empty windows are skipped). */
  advance(out: WindowResult[], watermarkUs = this.watermarkUs): void {
    const slide = this.spec.slideUs;
    while (this.nextEndUs !== undefined && this.nextEndUs <= watermarkUs) {
      const endIdx = this.nextEndUs / slide; // exclusive pane index
      const startIdx = endIdx - this.panesPerWindow;
      let count = 0;
      let sum = 0;
      let sumSq = 0;
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = startIdx; i < endIdx; i++) {
        const p = this.panes.get(i);
        if (p === undefined) continue;
        count += p.count;
        sum += p.sum;
        sumSq += p.sumSq;
        if (p.min < min) min = p.min;
        if (p.max > max) max = p.max;
      }
      if (count > 0) {
        out.push({
          startUs: startIdx * slide,
          endUs: this.nextEndUs,
          count,
          value: pick(this.aggregate, count, sum, sumSq, min, max),
        });
      }
      // The oldest pane leaves every later window.
      this.panes.delete(startIdx);
      this.nextEndUs += slide;
      if (this.panes.size === 0) {
        // Nothing buffered: skip straight past the gap.
        this.nextEndUs = Math.max(this.nextEndUs, Math.floor(watermarkUs / slide) * slide + slide);
        break;
      }
      const first = this.firstPaneIdx();
      const jumpTo = (first + 1) * slide;
      if (jumpTo > this.nextEndUs) this.nextEndUs = jumpTo; // all windows in between are empty
    }
  }

  private firstPaneIdx(): number {
    let first = Number.POSITIVE_INFINITY;
    for (const k of this.panes.keys()) if (k < first) first = k;
    return first;
  }
}

function pick(a: Aggregate, count: number, sum: number, sumSq: number, min: number, max: number): number {
  switch (a) {
    case 'min':
      return min;
    case 'max':
      return max;
    case 'avg':
      return sum / count;
    case 'rms':
      return Math.sqrt(sumSq / count);
  }
}
