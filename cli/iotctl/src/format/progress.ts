import type { CommandOutcome, OutcomeStatus } from '@sensor-streaming/control';
import { paint, type Style, statusColor } from './text.js';

/** The order outcomes are counted in, in the bar and in the summary. */
export const OUTCOME_ORDER: readonly OutcomeStatus[] = [
  'APPLIED',
  'REJECTED',
  'EXPIRED',
  'TIMED_OUT',
  'UNROUTABLE',
  'FAILED',
  'PUBLISHED',
];

/** Counts by outcome in OUTCOME_ORDER, only those seen: `9998 APPLIED, 2 TIMED_OUT`. */
export function formatCounts(counts: ReadonlyMap<string, number>, style: Style, sep = ', '): string {
  const known = OUTCOME_ORDER.filter((s) => (counts.get(s) ?? 0) > 0);
  const other = [...counts.keys()].filter((s) => !(OUTCOME_ORDER as readonly string[]).includes(s));
  return [...known, ...other].map((s) => `${counts.get(s)} ${paint(style, statusColor(s), s)}`).join(sep);
}

/**
 * One line of progress, fitted to `columns`:
 * `[##########----------]  4210/10000  42%  4200 APPLIED, 10 TIMED_OUT  3.2 s`
 */
export function formatProgress(
  done: number,
  total: number,
  counts: ReadonlyMap<string, number>,
  elapsedMs: number,
  columns: number,
  style: Style,
): string {
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
  const tail = `  ${String(done).padStart(String(total).length)}/${total}  ${String(pct).padStart(3)}%  ${formatCounts(counts, style)}  ${(elapsedMs / 1000).toFixed(1)} s`;
  const barWidth = Math.max(10, Math.min(40, columns - visibleLength(tail) - 3));
  const filled = total === 0 ? barWidth : Math.round((done / total) * barWidth);
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
}

function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips our own color codes
  return s.replace(/\u001b\[\d+m/g, '').length;
}

export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

/**
 * A progress bar redrawn in place on a terminal (stderr), at most every `intervalMs`. clear() before
 * writing a line to the same terminal; the next tick draws it again below.
 */
export class ProgressBar {
  private readonly counts = new Map<string, number>();
  private done = 0;
  private drawn = false;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private readonly started: number;

  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
    private readonly style: Style,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = 50,
  ) {
    this.started = now();
  }

  count(o: CommandOutcome): void {
    this.done++;
    this.counts.set(o.status, (this.counts.get(o.status) ?? 0) + 1);
  }

  /** Redraws if the last draw is older than the interval (or `force`). */
  tick(force = false): void {
    const t = this.now();
    if (!force && this.drawn && t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    const line = formatProgress(
      this.done,
      this.total,
      this.counts,
      t - this.started,
      this.stream.columns ?? 80,
      this.style,
    );
    this.stream.write(`\r\u001b[2K${line}`);
    this.drawn = true;
  }

  /** Erases the bar (before other output, and at the end). */
  clear(): void {
    if (!this.drawn) return;
    this.stream.write('\r\u001b[2K');
    this.drawn = false;
  }
}
