import type { KindSpec, SignalModel, SignalOptions } from './signal-model.js';
import { US_PER_S } from './signal-model.js';

/** Machine harmonics (Hz) and their healthy velocity amplitudes (mm/s). */
export const VIBRATION_HARMONICS: ReadonlyArray<{ hz: number; amplitude: number }> = [
  { hz: 5, amplitude: 0.8 },
  { hz: 10, amplitude: 1.2 },
  { hz: 60, amplitude: 2.0 },
  { hz: 120, amplitude: 0.6 },
];
/** Outer-race defect frequency of the simulated bearing (Hz). */
export const BEARING_DEFECT_HZ = 157.3;
const NOISE_SD = 0.25;
/** At full severity the harmonics are this many times larger. */
const FAULT_GAIN = 4;
const DEFECT_AMPLITUDE = 3;

/**
 * Velocity of a rotating machine: sum of harmonics plus Gaussian noise. With a
 * bearing fault, its severity grows linearly from 0 to 1 over
 * `bearingFaultGrowthS`, multiplying the harmonics by up to 1 + FAULT_GAIN and
 * adding a component at the bearing defect frequency.
 */
export class VibrationModel implements SignalModel {
  readonly channels = vibrationKind.channels;
  readonly #opts: SignalOptions;
  readonly #phases: number[];
  readonly #amplitudes: number[];
  readonly #omegas: number[];

  constructor(opts: SignalOptions) {
    this.#opts = opts;
    const { prng } = opts;
    this.#phases = VIBRATION_HARMONICS.map(() => prng.range(0, 2 * Math.PI));
    // Each machine is a little different.
    this.#amplitudes = VIBRATION_HARMONICS.map((h) => h.amplitude * prng.range(0.8, 1.2));
    this.#omegas = VIBRATION_HARMONICS.map((h) => 2 * Math.PI * h.hz);
  }

  /** Bearing fault severity in [0, 1] at `timeUs` (0 without a bearing fault). */
  severity(timeUs: number): number {
    const growth = this.#opts.bearingFaultGrowthS;
    if (growth === undefined) return 0;
    const t = (timeUs - this.#opts.originUs) / US_PER_S;
    if (t <= 0) return 0;
    return growth <= 0 ? 1 : Math.min(1, t / growth);
  }

  sample(timeUs: number, out: number[]): void {
    const t = (timeUs - this.#opts.originUs) / US_PER_S;
    const sev = this.severity(timeUs);
    const gain = 1 + FAULT_GAIN * sev;
    let v = 0;
    for (let i = 0; i < this.#omegas.length; i++) {
      v += this.#amplitudes[i]! * Math.sin(this.#omegas[i]! * t + this.#phases[i]!);
    }
    v *= gain;
    if (sev > 0) v += DEFECT_AMPLITUDE * sev * Math.sin(2 * Math.PI * BEARING_DEFECT_HZ * t);
    out[0] = v + NOISE_SD * this.#opts.prng.gaussian();
  }
}

export const vibrationKind: KindSpec = {
  kind: 'vibration',
  channels: [{ name: 'vibration', unit: 'mm/s', scale: 3 }],
  defaultFrequencyHz: 100,
  minFrequencyHz: 1,
  maxFrequencyHz: 10_000,
  machines: ['pump', 'motor', 'fan', 'crane'],
  mobileMachines: ['crane'],
  firmware: ['vib-2.3.1', 'vib-2.4.0'],
  createModel: (opts) => new VibrationModel(opts),
};
