import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { generateSerials, indexFromHostname, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has defaults that work against local services', () => {
    const c = loadConfig({});
    expect(c.serials).toHaveLength(10);
    expect(c.serials[0]).toBe('sim-0-0');
    expect(c.flushIntervalMs).toBe(1000);
    expect(c.heartbeatIntervalMs).toBe(10_000);
    expect(c.transport).toBe('amqp');
    expect(c.metricsPort).toBe(9105);
    expect(c.mqttUrl).toBe('mqtt://127.0.0.1:1884');
    expect(c.kindMix.map((k) => k.kind)).toEqual(['vibration', 'environment', 'process']);
    expect(c.kindMix.reduce((s, k) => s + k.weight, 0)).toBeCloseTo(1);
    expect(c.samplesPerMessage).toBeUndefined();
  });

  it('reads SAMPLES_PER_MESSAGE (k samples per message) and refuses one above MAX_BATCH_SAMPLES', () => {
    for (const k of [1, 10, 100, 1000])
      expect(loadConfig({ SAMPLES_PER_MESSAGE: String(k) }).samplesPerMessage).toBe(k);
    expect(() => loadConfig({ SAMPLES_PER_MESSAGE: '0' })).toThrow(/SAMPLES_PER_MESSAGE/);
    expect(() => loadConfig({ SAMPLES_PER_MESSAGE: 'ten' })).toThrow(/SAMPLES_PER_MESSAGE/);
    expect(() => loadConfig({ SAMPLES_PER_MESSAGE: '500', MAX_BATCH_SAMPLES: '100' })).toThrow(
      /SAMPLES_PER_MESSAGE/,
    );
  });

  it('takes how many MQTT devices connect at once, and refuses a non-positive number by name', () => {
    expect(loadConfig({}).mqttConnectConcurrency).toBe(50);
    expect(loadConfig({ MQTT_CONNECT_CONCURRENCY: '8' }).mqttConnectConcurrency).toBe(8);
    expect(() => loadConfig({ MQTT_CONNECT_CONCURRENCY: '0' })).toThrow(/MQTT_CONNECT_CONCURRENCY/);
  });

  it('gives processes with different indexes disjoint serials', () => {
    const a = loadConfig({ SENSOR_COUNT: '100', SIMULATOR_INDEX: '1' }).serials;
    const b = loadConfig({ SENSOR_COUNT: '100', SIMULATOR_INDEX: '11' }).serials;
    expect(a.filter((s) => b.includes(s))).toEqual([]);
    expect(a[5]).toBe('sim-1-5');
  });

  it('takes the index from the trailing integer of HOSTNAME (StatefulSet pod, compose replica)', () => {
    const c = loadConfig({
      SIMULATOR_INDEX_FROM_HOSTNAME: 'true',
      HOSTNAME: 'sensor-simulator-3',
      SENSOR_COUNT: '2',
    });
    expect(c.simulatorIndex).toBe(3);
    expect(c.serials).toEqual(['sim-3-0', 'sim-3-1']);
    expect(indexFromHostname('stack_sensor-simulator_12')).toBe(12);
    expect(indexFromHostname('simulator')).toBeUndefined();
    expect(indexFromHostname('3f2a9b0c1d22')).toBeUndefined(); // a Docker container id is not an index
  });

  it('uses an explicit serial list over the count', () => {
    const c = loadConfig({ SENSOR_SERIALS: 'crane-a, pump-b', SENSOR_COUNT: '500' });
    expect(c.serials).toEqual(['crane-a', 'pump-b']);
  });

  it('parses kinds, faults, per-serial faults and a frequency override', () => {
    const c = loadConfig({
      SENSOR_KINDS: 'vibration:3,process:1',
      FAULTS: 'spike:0.01,stuck:0.5',
      FAULT_SERIALS: 'sim-0-3:spike+drift,sim-0-4:dropout',
      SAMPLE_FREQUENCY_HZ: '10',
      TRANSPORT: 'mqtt',
      FLUSH_INTERVAL_MS: '500ms',
    });
    expect(c.kindMix).toEqual([
      { kind: 'vibration', weight: 0.75 },
      { kind: 'process', weight: 0.25 },
    ]);
    expect(c.faultProbabilities).toMatchObject({ spike: 0.01, stuck: 0.5 });
    expect(c.faultSerials).toEqual({ 'sim-0-3': ['spike', 'drift'], 'sim-0-4': ['dropout'] });
    expect(c.sampleFrequencyHz).toBe(10);
    expect(c.transport).toBe('mqtt');
    expect(c.flushIntervalMs).toBe(500);
  });

  it('lists every bad variable in one error', () => {
    let err: unknown;
    try {
      loadConfig({
        SENSOR_COUNT: '0',
        SENSOR_SERIAL_PREFIX: 'a.b',
        SIMULATOR_INDEX: '-1',
        SENSOR_KINDS: 'vibration:x,robot:1',
        FLUSH_INTERVAL_MS: 'soon',
        HEARTBEAT_INTERVAL_MS: '5',
        TRANSPORT: 'carrier-pigeon',
        FAULTS: 'spike:2,gremlin:0.1',
        FAULT_SERIALS: 'sim-0-1:melt',
        SEED: 'abc',
        METRICS_PORT: '70000',
        AMQP_URL: 'http://x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).problems.join('\n');
    for (const name of [
      'SENSOR_COUNT',
      'SENSOR_SERIAL_PREFIX',
      'SIMULATOR_INDEX',
      'SENSOR_KINDS: vibration',
      'SENSOR_KINDS: unknown kind "robot"',
      'FLUSH_INTERVAL_MS',
      'HEARTBEAT_INTERVAL_MS',
      'TRANSPORT',
      'FAULTS: spike',
      'FAULTS: unknown fault "gremlin"',
      'FAULT_SERIALS',
      'SEED',
      'METRICS_PORT',
      'AMQP_URL',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('rejects too many sensors, bad explicit serials, a bad HOSTNAME and an out-of-range frequency', () => {
    expect(() => loadConfig({ SENSOR_COUNT: '50001' })).toThrow(/SENSOR_COUNT/);
    expect(() => loadConfig({ SENSOR_SERIALS: 'ok,not.ok,ok' })).toThrow(/not\.ok[\s\S]*duplicate/);
    expect(() => loadConfig({ SIMULATOR_INDEX_FROM_HOSTNAME: '1', HOSTNAME: 'box' })).toThrow(/HOSTNAME/);
    expect(() => loadConfig({ SENSOR_KINDS: 'environment', SAMPLE_FREQUENCY_HZ: '500' })).toThrow(
      /SAMPLE_FREQUENCY_HZ: 500 Hz is outside the range of environment/,
    );
  });

  it('generates serials within the serial pattern', () => {
    for (const s of generateSerials('a_b-c', 12, 3)) expect(s).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });
});
