import type { CommandOutcome, CommandRequest, SensorSummary } from '@sensor-streaming/control';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { sensor } from '../testing/fixtures.js';
import { StatusView } from './status-view.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');
const fleet: SensorSummary[] = [
  sensor({ serial: 'sim-0-0', lastSeenAt: '2026-01-01T00:00:09Z' }),
  sensor({
    serial: 'sim-0-1',
    kind: 'environment',
    reportedState: 'ASLEEP',
    reportedFrequencyHz: 1,
    samplesPerSecond: 0,
  }),
  sensor({ serial: 'sim-0-2', online: false, lastSeenAt: '2026-01-01T00:00:00Z' }),
];

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

async function until(frame: () => string | undefined, text: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const f = frame() ?? '';
    if (f.includes(text)) return f;
    await tick(20);
  }
  throw new Error(`frame never contained ${JSON.stringify(text)}; last frame:\n${frame()}`);
}

function setup(opts: { maxRows?: number; fetch?: () => Promise<SensorSummary[]> } = {}) {
  const sent: Array<{ serial: string; request: CommandRequest }> = [];
  const view = render(
    <StatusView
      fetchSensors={opts.fetch ?? (() => Promise.resolve(fleet))}
      sendCommand={(serial, request) => {
        sent.push({ serial, request });
        const outcome: CommandOutcome = {
          serial,
          commandId: 'c1',
          type: request.type,
          status: 'APPLIED',
          reason: '',
          rttMs: 12.5,
        };
        return Promise.resolve(outcome);
      }}
      refreshMs={60_000}
      color={false}
      maxRows={opts.maxRows ?? 10}
      nowMs={() => NOW}
    />,
  );
  return { ...view, sent };
}

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

const selectedRow = (frame: string) => frame.split('\n').find((l) => l.startsWith('>')) ?? '';

async function untilSelected(frame: () => string | undefined, serial: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (selectedRow(frame() ?? '').startsWith(`> ${serial} `)) return;
    await tick(20);
  }
  throw new Error(`${serial} never selected; last frame:\n${frame()}`);
}

describe('StatusView', () => {
  it('shows the counts and one row per sensor with state, frequency, last seen and samples/s', async () => {
    const v = setup();
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'sim-0-2');
    expect(frame).toContain('3 sensors: 1 awake, 1 asleep, 1 offline');
    expect(frame).toMatch(/SERIAL\s+KIND\s+STATE\s+HZ\s+LAST SEEN\s+SAMPLES\/S/);
    expect(frame).toMatch(/> sim-0-0\s+vibration\s+AWAKE\s+100\s+1s ago\s+100/);
    expect(frame).toMatch(/ {2}sim-0-1\s+environment\s+ASLEEP\s+1\s+10s ago\s+0/);
    expect(frame).toMatch(/ {2}sim-0-2\s+vibration\s+OFFLINE\s+100\s+10s ago/);
    expect(frame).toContain('last command: none');
  });

  it('moves the selection with j/k and the arrow keys, and stops at the ends', async () => {
    const v = setup();
    cleanup = v.unmount;
    await until(v.lastFrame, 'sim-0-2');
    v.stdin.write('j');
    await untilSelected(v.lastFrame, 'sim-0-1');
    v.stdin.write('\u001b[B'); // down arrow
    await untilSelected(v.lastFrame, 'sim-0-2');
    v.stdin.write('j');
    await untilSelected(v.lastFrame, 'sim-0-2');
    v.stdin.write('\u001b[A'); // up arrow
    await tick();
    v.stdin.write('k');
    await tick();
    v.stdin.write('k');
    await untilSelected(v.lastFrame, 'sim-0-0');
  });

  it('s and a command the selected sensor and show the outcome', async () => {
    const v = setup();
    cleanup = v.unmount;
    await until(v.lastFrame, 'sim-0-2');
    v.stdin.write('j');
    await tick();
    v.stdin.write('s');
    const frame = await until(v.lastFrame, 'last command: sleep sim-0-1: APPLIED in 12.5 ms');
    expect(frame).toBeTruthy();
    v.stdin.write('a');
    await until(v.lastFrame, 'last command: awake sim-0-1: APPLIED');
    expect(v.sent).toEqual([
      { serial: 'sim-0-1', request: { type: 'sleep' } },
      { serial: 'sim-0-1', request: { type: 'awake' } },
    ]);
  });

  it('f prompts for a frequency, rejects a bad one and sends a good one', async () => {
    const v = setup();
    cleanup = v.unmount;
    await until(v.lastFrame, 'sim-0-2');
    v.stdin.write('f');
    await until(v.lastFrame, 'new sample frequency for sim-0-0');
    for (const ch of '99999') v.stdin.write(ch);
    v.stdin.write('\r');
    await until(v.lastFrame, 'out of range');
    expect(v.sent).toEqual([]);
    for (let i = 0; i < 5; i++) v.stdin.write('\u007f'); // backspace
    for (const ch of '50') v.stdin.write(ch);
    await until(v.lastFrame, 'Esc to cancel): 50');
    v.stdin.write('\r');
    await until(v.lastFrame, 'last command: changesamplefrequency sim-0-0: APPLIED');
    expect(v.sent).toEqual([
      { serial: 'sim-0-0', request: { type: 'changesamplefrequency', sampleFrequencyHz: 50 } },
    ]);
  });

  it('scrolls a long fleet to keep the selection visible', async () => {
    const many = Array.from({ length: 30 }, (_, i) => sensor({ serial: `s-${String(i).padStart(2, '0')}` }));
    const v = setup({ maxRows: 5, fetch: () => Promise.resolve(many) });
    cleanup = v.unmount;
    await until(v.lastFrame, '(1-5 of 30)');
    for (let i = 0; i < 10; i++) v.stdin.write('j');
    const frame = await until(v.lastFrame, '> s-10');
    expect(frame).not.toContain('s-00');
    expect(frame).toMatch(/\(\d+-\d+ of 30\)/);
  });

  it('shows a registry failure without crashing and keeps the keys help', async () => {
    const v = setup({
      fetch: () => Promise.reject(new Error('the sensor registry did not answer within 5000 ms')),
    });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'registry: the sensor registry did not answer');
    expect(frame).toContain('keys: up/down or j/k select');
  });
});
