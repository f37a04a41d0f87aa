import type { KindSpec, SignalModel, SignalOptions } from './signal-model.js';
import { dayPhase, US_PER_S } from './signal-model.js';
import { BandLimitedNoise } from './band-limited-noise.js';

/**
 * Outdoor/indoor climate: temperature (°C) warmest mid-afternoon, absolute
 * pressure (kPa) around standard atmosphere with a slow weather cycle, relative
 * humidity (%) highest at dawn. Each follows a daily cycle plus a slow AR(1)
 * wander and a little measurement noise.
 */
export class EnvironmentModel implements SignalModel {
  readonly channels = environmentKind.channels;
  readonly #opts: SignalOptions;
  readonly #baseTemp: number;
  readonly #basePressure: number;
  readonly #weatherPhase: number;
  #wander = [0, 0, 0];
  readonly #noise: BandLimitedNoise[];
  #lastUs: number | undefined;

  constructor(opts: SignalOptions) {
    this.#opts = opts;
    this.#baseTemp = opts.prng.range(10, 20);
    this.#basePressure = opts.prng.range(100.3, 102.3);
    this.#weatherPhase = opts.prng.range(0, 2 * Math.PI);
    // Measurement noise band-limited to ~0.3 Hz: sampling faster does not make the climate noisier.
    this.#noise = [0.05, 0.01, 0.5].map((sd) => new BandLimitedNoise(opts.prng, sd, 0.5));
  }

  sample(timeUs: number, out: number[]): void {
    const { prng } = this.#opts;
    // AR(1) wander, decorrelating over ~1 h whatever the sample rate.
    const dtS = this.#lastUs === undefined ? 0 : Math.max(0, (timeUs - this.#lastUs) / US_PER_S);
    this.#lastUs = timeUs;
    const keep = Math.exp(-dtS / 3600);
    const kick = Math.sqrt(1 - keep * keep);
    const w = this.#wander;
    w[0] = w[0]! * keep + kick * prng.gaussian();
    w[1] = w[1]! * keep + kick * prng.gaussian();
    w[2] = w[2]! * keep + kick * prng.gaussian();

    const day = Math.sin(2 * Math.PI * (dayPhase(timeUs) - 9 / 24)); // peak ~15:00
    const weather = Math.sin((2 * Math.PI * timeUs) / (3 * 86_400 * US_PER_S) + this.#weatherPhase);
    out[0] = this.#baseTemp + 7 * day + 1.5 * w[0]! + this.#noise[0]!.at(timeUs);
    out[1] = this.#basePressure + 1.2 * weather + 0.2 * day + 0.3 * w[1]! + this.#noise[1]!.at(timeUs);
    const rh = 65 - 15 * day + 5 * w[2]! + this.#noise[2]!.at(timeUs);
    out[2] = Math.min(100, Math.max(0, rh));
  }
}

export const environmentKind: KindSpec = {
  kind: 'environment',
  channels: [
    { name: 'temperature', unit: 'degC', scale: 5 },
    { name: 'pressure', unit: 'kPa', scale: 1 },
    { name: 'humidity', unit: '%RH', scale: 10 },
  ],
  defaultFrequencyHz: 1,
  minFrequencyHz: 0.1,
  maxFrequencyHz: 100,
  machines: ['weather-station', 'warehouse', 'cleanroom'],
  mobileMachines: [],
  firmware: ['env-1.8.2', 'env-1.9.0'],
  createModel: (opts) => new EnvironmentModel(opts),
};
