import type { Prng } from '../prng.js';

export type SensorKind = 'vibration' | 'environment' | 'process';
export const SENSOR_KINDS: readonly SensorKind[] = ['vibration', 'environment', 'process'];

export interface ChannelSpec {
  name: string;
  unit: string;
  /** Typical magnitude of the signal, used to size injected faults (spikes, drift). */
  scale: number;
}

/** Generates the values of every channel of one sensor, sample by sample, in time order. */
export interface SignalModel {
  readonly channels: readonly ChannelSpec[];
  /** Writes one value per channel (same order as `channels`) for the sample at `timeUs`. */
  sample(timeUs: number, out: number[]): void;
}

export interface SignalOptions {
  prng: Prng;
  /** Time the sensor booted (µs); relative phases start here. */
  originUs: number;
  /** Vibration: a bearing fault whose severity grows from 0 to 1 over this many seconds. */
  bearingFaultGrowthS?: number;
}

export interface KindSpec {
  kind: SensorKind;
  channels: readonly ChannelSpec[];
  defaultFrequencyHz: number;
  minFrequencyHz: number;
  maxFrequencyHz: number;
  /** Machine types a sensor of this kind is mounted on. */
  machines: readonly string[];
  /** Machine types that move (their sensors follow a route). */
  mobileMachines: readonly string[];
  firmware: readonly string[];
  createModel(opts: SignalOptions): SignalModel;
}

export const US_PER_S = 1_000_000;
export const SECONDS_PER_DAY = 86_400;

/** Fraction of the UTC day in [0, 1) at `timeUs`, shifted by a longitude (15° per hour). */
export function dayPhase(timeUs: number, lonDeg = 0): number {
  const s = timeUs / US_PER_S + (lonDeg / 15) * 3600;
  const d = (s % SECONDS_PER_DAY) / SECONDS_PER_DAY;
  return d < 0 ? d + 1 : d;
}
