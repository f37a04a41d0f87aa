import type { AlarmRecord, CommandOutcome, CommandRequest, SensorSummary } from '@sensor-streaming/control';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { sensor } from '../testing/fixtures.js';
import { StatusView } from './status-view.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');
const fleet: SensorSummary[] = [
  sensor({ serial: 'sim-0-0', lastSeenAt: '2026-01-01T00:00:09Z', lastDataAt: '2026-01-01T00:00:09Z' }),
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

function setup(
  opts: {
    maxRows?: number;
    fetch?: () => Promise<SensorSummary[]>;
    alarms?: () => Promise<AlarmRecord[]>;
  } = {},
) {
  const sent: Array<{ serial: string; request: CommandRequest }> = [];
  const view = render(
    <StatusView
      fetchSensors={opts.fetch ?? (() => Promise.resolve(fleet))}
      {...(opts.alarms === undefined ? {} : { fetchAlarms: opts.alarms })}
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
  it('shows the counts, services and one row per sensor with state, desired, frequency, last data and samples/s', async () => {
    const v = setup();
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'sim-0-2');
    expect(frame).toContain('3 sensors: 1 awake, 1 asleep, 1 offline');
    expect(frame).toContain('services: registry ok');
    expect(frame).toMatch(/SERIAL\s+KIND\s+STATE\s+DESIRED\s+HZ\s+LAST DATA\s+SAMPLES\/S\s+LABELS/);
    expect(frame).toMatch(/> sim-0-0\s+vibration\s+AWAKE\s+-\s+100\s+1s ago\s+100\s+site=north/);
    expect(frame).toMatch(/ {2}sim-0-1\s+environment\s+ASLEEP\s+-\s+1\s+-\s+0/);
    expect(frame).toMatch(/ {2}sim-0-2\s+vibration\s+OFFLINE/);
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
    await until(v.lastFrame, '1-5 of 30');
    for (let i = 0; i < 10; i++) v.stdin.write('j');
    const frame = await until(v.lastFrame, '> s-10');
    expect(frame).not.toContain('s-00');
    expect(frame).toMatch(/\d+-\d+ of 30/);
  });

  it('shows a registry failure without crashing and keeps the keys help', async () => {
    const v = setup({
      fetch: () => Promise.reject(new Error('the sensor registry did not answer within 5000 ms')),
    });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'registry: the sensor registry did not answer');
    expect(frame).toContain('keys: j/k up/down');
  });

  it('takes a burst of keys typed faster than it renders, one key at a time', async () => {
    const many = Array.from({ length: 100 }, (_, i) => sensor({ serial: `sim-0-${i}` }));
    const v = setup({ maxRows: 10, fetch: () => Promise.resolve(many) });
    cleanup = v.unmount;
    await until(v.lastFrame, '1-10 of 100');
    v.stdin.write('j'.repeat(20)); // ONE write: ink hands it to the view as one input string
    await untilSelected(v.lastFrame, 'sim-0-20');
    v.stdin.write('jjjjjkk');
    await untilSelected(v.lastFrame, 'sim-0-23');
  });

  it('sorts naturally, cycles the sort key, filters by kind and state, searches with /', async () => {
    const fleet2 = [
      sensor({ serial: 'sim-0-10' }),
      sensor({ serial: 'sim-0-2', kind: 'process' }),
      sensor({ serial: 'sim-0-9', reportedState: 'ASLEEP', labels: { site: 'south' } }),
    ];
    const v = setup({ fetch: () => Promise.resolve(fleet2) });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'sim-0-10');
    const order = (f: string) =>
      f
        .split('\n')
        .map((l) => /^[> ] (sim-\S+)/.exec(l)?.[1])
        .filter((x): x is string => x !== undefined);
    expect(order(frame)).toEqual(['sim-0-2', 'sim-0-9', 'sim-0-10']);
    v.stdin.write('o'); // kind
    await until(v.lastFrame, 'sort: kind');
    expect(order(v.lastFrame() ?? '')).toEqual(['sim-0-2', 'sim-0-9', 'sim-0-10']);
    v.stdin.write('O');
    await until(v.lastFrame, 'sort: kind (reversed)');
    expect(order(v.lastFrame() ?? '')).toEqual(['sim-0-10', 'sim-0-9', 'sim-0-2']);
    v.stdin.write('S'); // state filter: awake
    await until(v.lastFrame, 'filter: state=awake');
    expect(order(v.lastFrame() ?? '')).toEqual(['sim-0-10', 'sim-0-2']);
    v.stdin.write('c/south\r');
    await until(v.lastFrame, 'filter: /south');
    expect(order(v.lastFrame() ?? '')).toEqual(['sim-0-9']);
    expect(v.lastFrame()).toContain('(3 in the fleet)');
  });

  it('shows desired versus reported with a pending command, open alarms per sensor and in total', async () => {
    const fleet3 = [
      sensor({ serial: 'p-1', desiredState: 'ASLEEP', pendingCommands: 1 }),
      sensor({ serial: 'p-2', desiredFrequencyHz: 50 }),
    ];
    const alarm = (serial: string): AlarmRecord => ({
      alarmId: crypto.randomUUID(),
      serial,
      rule: 'r',
      channel: 'vibration',
      severity: 'MAJOR',
      value: 1,
      threshold: 0,
      windowNs: 0,
      message: '',
      raisedAt: '2026-01-01T00:00:00Z',
      acknowledgedAt: null,
      acknowledgedBy: null,
      clearedAt: null,
      active: true,
    });
    const v = setup({
      fetch: () => Promise.resolve(fleet3),
      alarms: () => Promise.resolve([alarm('p-2'), alarm('p-2'), alarm('p-1')]),
    });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, '3 open alarms');
    expect(frame).toContain('alarm-service ok');
    expect(frame).toMatch(/> p-1\s+vibration\s+AWAKE\s+-> ASLEEP \(pending\)\s+100\s+.*\s1\s+site=/);
    expect(frame).toMatch(/ {2}p-2\s+vibration\s+AWAKE\s+-> 50 Hz\s+100\s+.*\s2\s+site=/);
  });

  it('says which service is down when the alarm service does not answer', async () => {
    const v = setup({ alarms: () => Promise.reject(new Error('the alarm service did not answer')) });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'alarm-service DOWN');
    expect(frame).toContain('registry ok');
    expect(frame).toContain('sim-0-2');
  });

  it('shows the fleet while the alarm service has not answered yet (polled apart, never waited for)', async () => {
    const v = setup({ alarms: () => new Promise<AlarmRecord[]>(() => undefined) });
    cleanup = v.unmount;
    const frame = await until(v.lastFrame, 'sim-0-2');
    expect(frame).toContain('registry ok');
    expect(frame).not.toContain('alarm-service');
  });

  it('says from the registry whether samples and logs are being stored (the ingesters)', async () => {
    const view = render(
      <StatusView
        fetchSensors={() => Promise.resolve(fleet)}
        fetchHealth={() =>
          Promise.resolve({
            newestMeasurementAt: '2026-01-01T00:00:09Z',
            newestLogAt: '2026-01-01T00:08:00Z',
            now: '2026-01-01T00:10:00Z',
          })
        }
        sendCommand={() => Promise.reject(new Error('no'))}
        refreshMs={60_000}
        color={false}
        maxRows={10}
        nowMs={() => NOW}
      />,
    );
    cleanup = view.unmount;
    const frame = await until(view.lastFrame, 'ingest:');
    expect(frame).toContain('ingest: samples 9m old, logs 2m old');
  });

  it('says so when the registry knows no sensors, and when a filter hides them all', async () => {
    const empty = setup({ fetch: () => Promise.resolve([]) });
    cleanup = empty.unmount;
    await until(empty.lastFrame, 'the registry knows no sensors yet');
    empty.unmount();
    const v = setup();
    cleanup = v.unmount;
    await until(v.lastFrame, 'sim-0-2');
    v.stdin.write('/nothing-like-this\r');
    await until(v.lastFrame, 'no sensor matches the filter (c clears it)');
  });
});
