import type { Command, MeasurementBatch } from '@sensor-streaming/protocol';
import { sampleTimesUs } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import { SITES } from './position.js';
import { DEFAULT_SENSOR_OPTIONS, type SensorSpec, SimulatedSensor } from './sensor.js';

const T0 = 1_780_000_000_000_000;
const S = 1_000_000;

function sensor(over: Partial<SensorSpec> = {}): SimulatedSensor {
  const s = new SimulatedSensor(
    {
      serial: 'sim-0-1',
      kind: 'vibration',
      site: SITES[0]!,
      machine: 'pump-01',
      firmware: 'vib-2.3.1',
      frequencyHz: 100,
      faults: [],
      seed: 42,
      ...over,
    },
    T0,
  );
  s.boot(T0);
  return s;
}

let n = 0;
function cmd(type: Command['type'], over: Partial<Command> = {}): Command {
  n++;
  return {
    commandId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    serial: 'sim-0-1',
    type,
    issuedAtUs: T0,
    issuedBy: 'test',
    ...over,
  };
}

const count = (bs: MeasurementBatch[]): number => bs.reduce((s, b) => s + b.values.length, 0);
const lastTime = (bs: MeasurementBatch[]): number => Math.max(...bs.flatMap((b) => sampleTimesUs(b)));

describe('SimulatedSensor sampling', () => {
  it('produces one batch per channel per flush, timestamped by the sample clock', () => {
    const s = sensor({
      kind: 'environment',
      frequencyHz: 10,
      machine: 'warehouse-01',
      firmware: 'env-1.8.2',
    });
    const bs = s.collect(T0 + S);
    expect(bs.map((b) => b.channel)).toEqual(['temperature', 'pressure', 'humidity']);
    for (const b of bs) {
      expect(b.values).toHaveLength(10);
      expect(b.firstSampleTimeUs).toBe(T0);
      expect(b.samplePeriodNs).toBe(100_000_000);
      expect(b.sequence).toBe(1);
    }
    const next = s.collect(T0 + 2 * S);
    expect(next[0]!.firstSampleTimeUs).toBe(T0 + S);
    expect(next[0]!.sequence).toBe(2);
  });

  it('splits large flushes into batches of at most maxBatchSamples', () => {
    const s = new SimulatedSensor(
      {
        serial: 'sim-0-1',
        kind: 'vibration',
        site: SITES[0]!,
        machine: 'pump-01',
        firmware: 'x',
        frequencyHz: 10_000,
        faults: [],
        seed: 1,
      },
      T0,
      { ...DEFAULT_SENSOR_OPTIONS, maxBatchSamples: 4000 },
    );
    const bs = s.collect(T0 + S);
    expect(bs.map((b) => b.values.length)).toEqual([4000, 4000, 2000]);
    expect(bs[1]!.firstSampleTimeUs).toBe(T0 + 400_000);
  });

  it('with samplesPerMessage sends only whole messages of k samples; the rest waits, none is lost', () => {
    const spec = {
      serial: 'sim-0-2',
      kind: 'vibration' as const,
      site: SITES[0]!,
      machine: 'pump-01',
      firmware: 'x',
      frequencyHz: 1000,
      faults: [],
      seed: 1,
    };
    const s = new SimulatedSensor(spec, T0, { ...DEFAULT_SENSOR_OPTIONS, samplesPerMessage: 300 });
    const first = s.collect(T0 + S); // 1000 due: 3 messages of 300, 100 left due
    expect(first.map((b) => b.values.length)).toEqual([300, 300, 300]);
    expect(s.dueSamples(T0 + S)).toBe(100);
    const next = s.collect(T0 + 2 * S); // 1100 due
    expect(next.map((b) => b.values.length)).toEqual([300, 300, 300]);
    expect(next[0]!.firstSampleTimeUs).toBe(T0 + 900_000); // contiguous with the first flush
    const k1 = new SimulatedSensor(spec, T0, { ...DEFAULT_SENSOR_OPTIONS, samplesPerMessage: 1 });
    expect(k1.collect(T0 + S / 100).map((b) => b.values.length)).toEqual(new Array(10).fill(1));
  });

  it('attaches a moving position to batches of mobile sensors (cranes) only', () => {
    const crane = sensor({ machine: 'crane-02' });
    expect(crane.mobile).toBe(true);
    const a = crane.collect(T0 + S)[0]!.position!;
    crane.collect(T0 + 60 * S);
    const b = crane.collect(T0 + 61 * S)[0]!.position!;
    expect(Math.hypot(a.lat - b.lat, a.lon - b.lon)).toBeGreaterThan(0);
    expect(Math.abs(a.lat - SITES[0]!.lat)).toBeLessThan(0.01);
    const pump = sensor();
    expect(pump.collect(T0 + S)[0]!.position).toBeUndefined();
    expect(pump.snapshot('BIRTH', T0).location).toBeDefined();
  });

  it('rejects an initial frequency outside the kind range', () => {
    expect(() => sensor({ kind: 'environment', frequencyHz: 1000 })).toThrow(/outside/);
  });

  it('publishes boot logs with firmware and app version', () => {
    const s = sensor();
    const logs = s.takeLogs(T0)!;
    expect(logs.sequence).toBe(1);
    expect(logs.entries.length).toBeGreaterThanOrEqual(3);
    expect(logs.entries.every((e) => e.level === 'INFO' && e.firmwareVersion === 'vib-2.3.1')).toBe(true);
    expect(logs.entries[0]!.appVersion).toMatch(/^sensor-simulator\//);
    expect(s.takeLogs(T0 + S)).toBeUndefined(); // nothing new to say
  });
});

describe('SimulatedSensor commands', () => {
  it('sleep flushes samples up to the sleep instant, then produces nothing until awake', () => {
    const s = sensor();
    s.collect(T0 + S);
    const out = s.handleCommand(cmd('sleep'), T0 + 1.5 * S);
    expect(out.ack.status).toBe('APPLIED');
    expect(out.ack.state).toBe('ASLEEP');
    expect(out.changed).toBe(true);
    expect(count(out.batches)).toBe(50);
    expect(lastTime(out.batches)).toBeLessThan(out.ack.timeUs);
    expect(s.collect(T0 + 10 * S)).toEqual([]);
    const awake = s.handleCommand(cmd('awake'), T0 + 10 * S);
    expect(awake.ack).toMatchObject({ status: 'APPLIED', state: 'AWAKE', sampleFrequencyHz: 100 });
    const bs = s.collect(T0 + 11 * S);
    expect(bs[0]!.firstSampleTimeUs).toBe(T0 + 10 * S);
    expect(count(bs)).toBe(100);
  });

  it('changesamplefrequency changes the rate at the command instant', () => {
    const s = sensor();
    const out = s.handleCommand(cmd('changesamplefrequency', { sampleFrequencyHz: 50 }), T0 + S);
    expect(out.ack).toMatchObject({ status: 'APPLIED', sampleFrequencyHz: 50, state: 'AWAKE' });
    expect(count(out.batches)).toBe(100);
    const bs = s.collect(T0 + 3 * S);
    expect(count(bs)).toBe(100);
    expect(bs[0]!.samplePeriodNs).toBe(20_000_000);
    expect(bs[0]!.firstSampleTimeUs).toBe(T0 + S);
  });

  it('changesamplefrequency does not wake a sleeping sensor; awake resumes at the new rate', () => {
    const s = sensor();
    s.handleCommand(cmd('sleep'), T0);
    const out = s.handleCommand(cmd('changesamplefrequency', { sampleFrequencyHz: 20 }), T0 + S);
    expect(out.ack).toMatchObject({ status: 'APPLIED', state: 'ASLEEP', sampleFrequencyHz: 20 });
    expect(s.collect(T0 + 5 * S)).toEqual([]);
    s.handleCommand(cmd('awake'), T0 + 5 * S);
    expect(count(s.collect(T0 + 6 * S))).toBe(20);
  });

  it('rejects a frequency outside the range of the kind, with the range in the reason', () => {
    const s = sensor({ kind: 'environment', frequencyHz: 1, machine: 'warehouse-01' });
    const out = s.handleCommand(cmd('changesamplefrequency', { sampleFrequencyHz: 500 }), T0);
    expect(out.ack.status).toBe('REJECTED');
    expect(out.ack.reason).toMatch(/500 Hz outside .*0\.1\.\.100 Hz/);
    expect(out.changed).toBe(false);
    expect(s.frequencyHz).toBe(1);
    expect(s.handleCommand(cmd('changesamplefrequency'), T0).ack.status).toBe('REJECTED');
  });

  it('acks EXPIRED and does not apply a command that arrives after expires_at', () => {
    const s = sensor();
    const out = s.handleCommand(cmd('sleep', { expiresAtUs: T0 + S }), T0 + 2 * S);
    expect(out.ack.status).toBe('EXPIRED');
    expect(out.ack.state).toBe('AWAKE');
    expect(s.state).toBe('AWAKE');
    expect(s.handleCommand(cmd('sleep', { expiresAtUs: T0 + 3 * S }), T0 + 2 * S).ack.status).toBe('APPLIED');
  });

  it('applies a duplicate command id once and answers it with the same ack', () => {
    const s = sensor();
    const c = cmd('sleep');
    const first = s.handleCommand(c, T0 + S);
    s.handleCommand(cmd('awake'), T0 + 2 * S);
    const dup = s.handleCommand(c, T0 + 3 * S);
    expect(dup.duplicate).toBe(true);
    expect(dup.changed).toBe(false);
    expect(dup.ack).toEqual(first.ack);
    expect(s.state).toBe('AWAKE'); // the redelivered sleep did not put it back to sleep
  });

  it('forgets the oldest ids beyond its bounded memory', () => {
    const s = new SimulatedSensor(
      {
        serial: 'sim-0-1',
        kind: 'vibration',
        site: SITES[0]!,
        machine: 'pump-01',
        firmware: 'x',
        faults: [],
        seed: 1,
      },
      T0,
      { ...DEFAULT_SENSOR_OPTIONS, recentCommands: 2 },
    );
    const a = cmd('sleep');
    s.handleCommand(a, T0);
    s.handleCommand(cmd('awake'), T0);
    s.handleCommand(cmd('awake'), T0);
    expect(s.handleCommand(a, T0).duplicate).toBe(false);
  });

  it('rejects a command addressed to another serial', () => {
    const out = sensor().handleCommand(cmd('sleep', { serial: 'other' }), T0);
    expect(out.ack.status).toBe('REJECTED');
    expect(out.ack.reason).toMatch(/other/);
  });

  it('answers sleep when already asleep as APPLIED without a change', () => {
    const s = sensor();
    s.handleCommand(cmd('sleep'), T0);
    const again = s.handleCommand(cmd('sleep'), T0 + S);
    expect(again.ack.status).toBe('APPLIED');
    expect(again.changed).toBe(false);
  });
});

describe('SimulatedSensor state', () => {
  it('reports kind, channels, labels, range and uptime', () => {
    const st = sensor().snapshot('HEARTBEAT', T0 + 90 * S);
    expect(st).toMatchObject({
      serial: 'sim-0-1',
      kind: 'vibration',
      channels: ['vibration'],
      state: 'AWAKE',
      sampleFrequencyHz: 100,
      uptimeS: 90,
      reason: 'HEARTBEAT',
      labels: { site: 'north', machine: 'pump-01', kind: 'vibration' },
      minFrequencyHz: 1,
      maxFrequencyHz: 10_000,
    });
  });
});

describe('SimulatedSensor backlog', () => {
  it('keeps at most maxBacklogS of samples due when nothing was collected, and logs the drop', () => {
    const s = new SimulatedSensor(
      {
        serial: 'sim-0-1',
        kind: 'vibration',
        site: SITES[0]!,
        machine: 'pump-01',
        firmware: 'x',
        frequencyHz: 10,
        faults: [],
        seed: 1,
      },
      T0,
      { ...DEFAULT_SENSOR_OPTIONS, maxBacklogS: 60 },
    );
    const bs = s.collect(T0 + 600 * S);
    expect(count(bs)).toBe(600);
    expect(bs[0]!.firstSampleTimeUs).toBe(T0 + 540 * S);
    expect(
      s
        .takeLogs(T0 + 600 * S)!
        .entries.some((e) => e.errorCode === 'C011_BUFFER_OVERFLOW' && /5400 sample/.test(e.message)),
    ).toBe(true);
  });
});

describe('SimulatedSensor start of sampling', () => {
  it('starts the sample clock when sampling starts, unless samples were already taken', () => {
    const s = sensor();
    s.startSampling(T0 + 100 * S);
    const bs = s.collect(T0 + 101 * S);
    expect(bs[0]!.firstSampleTimeUs).toBe(T0 + 100 * S);
    expect(count(bs)).toBe(100);
    s.startSampling(T0 + 200 * S); // already sampling: no effect
    expect(s.collect(T0 + 102 * S)[0]!.firstSampleTimeUs).toBe(T0 + 101 * S);
  });
});
