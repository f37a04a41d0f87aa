import type { Bus } from '@sensor-streaming/bus';
import { CONTENT_TYPE_PROTOBUF, measurementBatchCodec, routingKeys } from '@sensor-streaming/protocol';

export interface LoadGeneratorOptions {
  bus: Bus;
  /** Distinct serials, published round robin. */
  sensors: number;
  samplesPerMessage: number;
  serialPrefix: string;
  channel?: string;
  /** Unconfirmed publishes at most. */
  maxInFlight?: number;
}

export interface LoadResult {
  messages: number;
  samples: number;
  seconds: number;
}

/**
 * Publishes MeasurementBatches at a controlled sample rate. Each sensor's
 * batches are contiguous in time (no two share a timestamp, so every sample
 * is a new row) and end at "now" when published, so commit time minus the
 * newest sample time is the end-to-end lag.
 */
export class LoadGenerator {
  private readonly opts: Required<LoadGeneratorOptions>;
  private readonly nextFirstUs: number[];
  private readonly sequences: number[];
  private readonly values: number[];
  private cursor = 0;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private failures = 0;
  private confirmed = 0;
  private lastError: unknown;

  constructor(opts: LoadGeneratorOptions) {
    this.opts = { channel: 'vibration', maxInFlight: 500, ...opts };
    this.nextFirstUs = new Array<number>(opts.sensors).fill(0);
    this.sequences = new Array<number>(opts.sensors).fill(0);
    this.values = Array.from(
      { length: opts.samplesPerMessage },
      (_, i) => Math.sin(i / 10) * 3 + (i % 7) * 0.01,
    );
  }

  get publishFailures(): number {
    return this.failures;
  }

  /** Samples published (confirmed) so far, over every run. */
  get totalSamples(): number {
    return this.confirmed * this.opts.samplesPerMessage;
  }

  /** Publishes `messages` messages as fast as the confirm window allows, with the period of `ratePerS`. */
  async burst(messages: number, ratePerS: number): Promise<LoadResult> {
    const start = performance.now();
    for (let i = 0; i < messages; i++) await this.publishOne(ratePerS);
    await this.drainInFlight();
    return this.result(messages, start);
  }

  /** Publishes at `ratePerS` samples/s for `seconds`; resolves once all are confirmed (`seconds`: the paced part). */
  async run(ratePerS: number, seconds: number): Promise<LoadResult> {
    const spm = this.opts.samplesPerMessage;
    const start = performance.now();
    const endAt = start + seconds * 1000;
    let sent = 0;
    for (;;) {
      const now = performance.now();
      if (now >= endAt) break;
      const due = Math.floor((((now - start) / 1000) * ratePerS) / spm);
      while (sent < due) {
        await this.publishOne(ratePerS);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const pacedSeconds = (performance.now() - start) / 1000;
    await this.drainInFlight();
    return { ...this.result(sent, start), seconds: pacedSeconds };
  }

  private result(messages: number, start: number): LoadResult {
    if (this.failures > 0) throw new Error(`${this.failures} publishes failed: ${String(this.lastError)}`);
    return {
      messages,
      samples: messages * this.opts.samplesPerMessage,
      seconds: (performance.now() - start) / 1000,
    };
  }

  private async publishOne(ratePerS: number): Promise<void> {
    while (this.inFlight >= this.opts.maxInFlight) await new Promise<void>((r) => this.waiters.push(r));
    const { sensors, samplesPerMessage: n } = this.opts;
    const k = this.cursor;
    this.cursor = (this.cursor + 1) % sensors;
    // each sensor samples at ratePerS / sensors
    const periodNs = Math.max(1000, Math.round((sensors * 1e9) / ratePerS));
    const spanUs = Math.ceil(((n - 1) * periodNs) / 1000);
    const nowUs = Date.now() * 1000;
    const first = Math.max(this.nextFirstUs[k] as number, nowUs - spanUs);
    this.nextFirstUs[k] = first + spanUs + Math.ceil(periodNs / 1000);
    const sequence = (this.sequences[k] as number) + 1;
    this.sequences[k] = sequence;
    const serial = `${this.opts.serialPrefix}${k}`;
    const body = measurementBatchCodec.encode({
      serial,
      channel: this.opts.channel,
      unit: 'mm/s',
      sequence,
      firstSampleTimeUs: first,
      samplePeriodNs: periodNs,
      values: this.values,
    });
    this.inFlight++;
    this.opts.bus
      .publish(routingKeys.data(serial), body, { contentType: CONTENT_TYPE_PROTOBUF })
      .then(() => {
        this.confirmed++;
      })
      .catch((err: unknown) => {
        this.failures++;
        this.lastError = err;
      })
      .finally(() => {
        this.inFlight--;
        this.waiters.shift()?.();
      });
  }

  private async drainInFlight(): Promise<void> {
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
