import type { CommandOutcome } from '@sensor-streaming/control';
import { describe, expect, it } from 'vitest';
import { sensor } from '../testing/fixtures.js';
import { formatOutcome, formatSummary } from './outcomes.js';
import { countFleet, desiredText, effectiveState, formatSensorTable } from './sensors.js';
import { ago, decideColor, renderTable } from './text.js';

const plain = { color: false };

describe('renderTable', () => {
  it('aligns columns under a header, right-aligning numbers, no trailing spaces', () => {
    const text = renderTable(
      [
        { a: 'x', n: '5' },
        { a: 'longer', n: '123' },
      ],
      [
        { header: 'NAME', value: (r) => r.a },
        { header: 'N', value: (r) => r.n, align: 'right' },
      ],
      plain,
    );
    expect(text).toBe('NAME      N\nx         5\nlonger  123\n');
  });

  it('colors only when asked', () => {
    const cols = [{ header: 'S', value: (r: string) => r, color: () => 'green' as const }];
    expect(renderTable(['ok'], cols, plain)).not.toContain('\u001b[');
    expect(renderTable(['ok'], cols, { color: true })).toContain('\u001b[32mok\u001b[0m');
  });
});

describe('decideColor', () => {
  it('is off for --no-color, NO_COLOR or a pipe; on for a TTY', () => {
    expect(decideColor(true, true, {})).toBe(true);
    expect(decideColor(false, true, {})).toBe(false);
    expect(decideColor(true, true, { NO_COLOR: '1' })).toBe(false);
    expect(decideColor(true, false, {})).toBe(false);
  });
});

describe('ago', () => {
  it('says how long ago in the largest whole unit', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    expect(ago('2026-01-01T00:59:57Z', now)).toBe('3s ago');
    expect(ago('2026-01-01T00:55:00Z', now)).toBe('5m ago');
    expect(ago('2025-12-31T22:00:00Z', now)).toBe('3h ago');
    expect(ago(null, now)).toBe('never');
  });
});

describe('command outcomes', () => {
  const o = (
    serial: string,
    status: CommandOutcome['status'],
    rttMs: number | null,
    reason = '',
  ): CommandOutcome => ({
    serial,
    commandId: '00000000-0000-4000-8000-000000000000',
    type: 'sleep',
    status,
    reason,
    rttMs,
  });

  it('prints serial, status, round trip, and the reason when there is one (APPLIED too)', () => {
    expect(formatOutcome(o('a', 'APPLIED', 12.34), 4, plain)).toBe('a     APPLIED       12.3 ms\n');
    expect(formatOutcome(o('a', 'APPLIED', 2, 'already awake'), 4, plain)).toBe(
      'a     APPLIED        2.0 ms  already awake\n',
    );
    expect(formatOutcome(o('bb', 'REJECTED', 3, 'out of range'), 4, plain)).toBe(
      'bb    REJECTED       3.0 ms  out of range\n',
    );
    expect(formatOutcome(o('c', 'TIMED_OUT', null, 'no ack'), 1, plain)).toBe(
      'c  TIMED_OUT           -  no ack\n',
    );
  });

  it('summarises counts per status and round-trip percentiles', () => {
    const s = formatSummary('sleep', [o('a', 'APPLIED', 10), o('b', 'APPLIED', 30), o('c', 'EXPIRED', 20)]);
    expect(s).toBe(
      'sleep: 3 targets, 2 APPLIED, 1 EXPIRED; round trip p50 20.0 ms, p99 30.0 ms, max 30.0 ms\n',
    );
  });
});

describe('sensors', () => {
  it('shows desired versus reported, pending commands included', () => {
    expect(desiredText(sensor())).toBe('-');
    expect(desiredText(sensor({ desiredState: 'ASLEEP', pendingCommands: 1 }))).toBe('-> ASLEEP (pending)');
    expect(desiredText(sensor({ desiredState: 'AWAKE', desiredFrequencyHz: 50 }))).toBe('-> 50 Hz');
    expect(effectiveState(sensor({ reportedState: null }))).toBe('ONLINE');
  });

  it('counts offline sensors whatever they last reported', () => {
    const c = countFleet([
      sensor(),
      sensor({ serial: 'b', reportedState: 'ASLEEP' }),
      sensor({ serial: 'c', online: false }),
      sensor({ serial: 'd', reportedState: 'OFFLINE' }),
    ]);
    expect(c).toEqual({ total: 4, awake: 1, asleep: 1, offline: 2 });
  });

  it('lists one row per sensor with state, frequency, last seen and labels', () => {
    const text = formatSensorTable([sensor()], plain, Date.parse('2026-01-01T00:00:05Z'));
    const [header, row] = text.trimEnd().split('\n');
    expect(header).toMatch(
      /^SERIAL\s+KIND\s+STATE\s+DESIRED\s+HZ\s+SAMPLES\/S\s+LAST DATA\s+LAST SEEN\s+LABELS$/,
    );
    expect(row).toMatch(/^sim-0-1\s+vibration\s+AWAKE\s+-\s+100\s+100\s+-\s+5s ago\s+site=north$/);
    expect(formatSensorTable([], plain, 0)).toBe('no sensors match\n');
  });
});
