import type { KindSpec, SignalModel, SignalOptions } from './signal-model.js';
import { US_PER_S } from './signal-model.js';
import { BandLimitedNoise } from './band-limited-noise.js';

/**
 * A production machine (press, extruder, autoclave): temperature (°C) and
 * absolute pressure (kPa) follow the production cycle, a smooth rise and fall
 * with a per-machine cycle time, plus band-limited noise.
 */
export class ProcessModel implements SignalModel {
  readonly channels = processKind.channels;
  readonly #opts: SignalOptions;
  readonly #cycleS: number;
  readonly #phase: number;
  readonly #tempBase: number;
  readonly #pressureBase: number;
  readonly #tempNoise: BandLimitedNoise;
  readonly #pressureNoise: BandLimitedNoise;

  constructor(opts: SignalOptions) {
    this.#opts = opts;
    this.#cycleS = opts.prng.range(120, 900);
    this.#phase = opts.prng.range(0, 1);
    this.#tempBase = opts.prng.range(60, 70);
    this.#pressureBase = opts.prng.range(350, 450);
    // Band-limited (~0.3 Hz): the same process at 0.1 Hz and at 1 kHz.
    this.#tempNoise = new BandLimitedNoise(opts.prng, 0.2, 0.5);
    this.#pressureNoise = new BandLimitedNoise(opts.prng, 2, 0.5);
  }

  sample(timeUs: number, out: number[]): void {
    const { originUs } = this.#opts;
    const t = (timeUs - originUs) / US_PER_S;
    const cycle = (1 - Math.cos(2 * Math.PI * (t / this.#cycleS + this.#phase))) / 2; // 0..1
    out[0] = this.#tempBase + 15 * cycle + this.#tempNoise.at(timeUs);
    out[1] = this.#pressureBase + 150 * cycle + this.#pressureNoise.at(timeUs);
  }
}

export const processKind: KindSpec = {
  kind: 'process',
  channels: [
    { name: 'temperature', unit: 'degC', scale: 8 },
    { name: 'pressure', unit: 'kPa', scale: 50 },
  ],
  defaultFrequencyHz: 10,
  minFrequencyHz: 0.1,
  maxFrequencyHz: 1_000,
  machines: ['press', 'extruder', 'autoclave', 'boiler'],
  mobileMachines: [],
  firmware: ['proc-3.1.0', 'proc-3.2.4'],
  createModel: (opts) => new ProcessModel(opts),
};
