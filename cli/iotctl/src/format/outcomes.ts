import type { CommandOutcome } from '@sensor-streaming/control';
import { formatCounts } from './progress.js';
import { ms, paint, type Style, statusColor } from './text.js';

/** One line per sensor: serial, outcome, round trip, and the reason when there is one ("already awake"). */
export function formatOutcome(o: CommandOutcome, serialWidth: number, style: Style): string {
  const status = paint(style, statusColor(o.status), o.status.padEnd(10));
  const reason = o.reason === '' ? '' : `  ${o.reason}`;
  return `${o.serial.padEnd(serialWidth)}  ${status}  ${ms(o.rttMs).padStart(9)}${reason}\n`;
}

function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * `sleep: 3 targets, 2 APPLIED, 1 TIMED_OUT; round trip p50 12.0 ms, p99 40.0 ms, max 40.0 ms; 5.1 s`
 * (counts in a fixed order; the elapsed time when given).
 */
export function formatSummary(type: string, outcomes: readonly CommandOutcome[], elapsedMs?: number): string {
  const byStatus = new Map<string, number>();
  for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
  const counts = formatCounts(byStatus, { color: false });
  const rtts = outcomes
    .map((o) => o.rttMs)
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);
  const rtt =
    rtts.length === 0
      ? ''
      : `; round trip p50 ${ms(percentile(rtts, 50))}, p99 ${ms(percentile(rtts, 99))}, max ${ms(rtts[rtts.length - 1]!)}`;
  const took = elapsedMs === undefined ? '' : `; ${(elapsedMs / 1000).toFixed(1)} s`;
  return `${type}: ${outcomes.length} target${outcomes.length === 1 ? '' : 's'}, ${counts}${rtt}${took}\n`;
}
