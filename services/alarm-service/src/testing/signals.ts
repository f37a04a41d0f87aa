import type { LogEntry, MeasurementBatch } from '@sensor-streaming/protocol';

/** Deterministic noise in [-1, 1) (LCG), so tests and the benchmark are repeatable. */
export function createNoise(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/**
 * A realistic vibration batch: a 5 Hz and a 60 Hz component plus noise
 * (mm/s), `n` samples at `hz` starting at `startUs`; `spikeAt` indices get +`spike`.
 */
export function vibrationBatch(
  serial: string,
  sequence: number,
  startUs: number,
  n: number,
  hz: number,
  noise: () => number,
  spikeAt: readonly number[] = [],
  spike = 20,
): MeasurementBatch {
  const periodUs = 1e6 / hz;
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = (startUs + i * periodUs) / 1e6;
    values.push(0.8 * Math.sin(2 * Math.PI * 5 * t) + 0.5 * Math.sin(2 * Math.PI * 60 * t) + 0.3 * noise());
  }
  for (const i of spikeAt) values[i] = (values[i] as number) + spike;
  return {
    serial,
    channel: 'vibration',
    unit: 'mm/s',
    sequence,
    firstSampleTimeUs: Math.round(startUs),
    samplePeriodNs: Math.round(periodUs * 1000),
    values,
  };
}

export function logEntry(timeUs: number, level: LogEntry['level'], errorCode = ''): LogEntry {
  return {
    timeUs,
    level,
    errorCode,
    appVersion: '1.0.0',
    firmwareVersion: 'fw-1',
    message: level === 'ERROR' ? `error ${errorCode}` : 'ok',
    component: 'test',
  };
}
