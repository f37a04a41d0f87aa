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

/**
 * A process pressure signal like the simulator's (kPa): a slow production
 * cycle plus band-limited (Ornstein-Uhlenbeck) noise whose variance does not
 * depend on the sample rate. Call with increasing times.
 */
export function createProcessSignal(seed: number, cycleS = 300, noiseSd = 2, noiseTauS = 0.5) {
  const noise = createNoise(seed);
  const gauss = () => {
    // Irwin-Hall approximation of N(0, 1) from 12 uniform draws on [-1, 1): sum/2 has variance 1.
    let s = 0;
    for (let i = 0; i < 6; i++) s += noise();
    return s / Math.sqrt(2);
  };
  let x = 0;
  let lastUs: number | undefined;
  return (timeUs: number): number => {
    const dtS = lastUs === undefined ? 1e9 : (timeUs - lastUs) / 1e6;
    lastUs = timeUs;
    const keep = Math.exp(-dtS / noiseTauS);
    x = x * keep + Math.sqrt(1 - keep * keep) * gauss();
    const t = timeUs / 1e6;
    return 400 + 75 * (1 - Math.cos((2 * Math.PI * t) / cycleS)) + noiseSd * x;
  };
}
