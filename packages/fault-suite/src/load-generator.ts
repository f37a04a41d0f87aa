import type { Bus } from '@sensor-streaming/bus';
import type { GoodMessage, MalformedKind, WorkloadMessage } from './workload.js';

/** What the database must hold for one confirmed good message. */
export interface ConfirmedGood {
  kind: 'data' | 'logs';
  serial: string;
  seq: number;
  rows: number;
  checksum: number;
}

export interface ConfirmedMalformed {
  id: string;
  malformed: MalformedKind;
  reason: RegExp;
}

export interface LoadProgress {
  published: number;
  confirmedMessages: number;
  confirmedSamples: number;
  confirmedEntries: number;
  confirmedMalformed: number;
  /** Publishes that failed (timeout, nack, unroutable, broker away) and were sent again. */
  retries: number;
}

export interface LoadGeneratorOptions {
  bus: Bus;
  /** Spread the publishing over about this long (ms); 0: as fast as the window allows. */
  durationMs: number;
  totalMessages: number;
  /** Publishes awaiting their confirm at once. */
  window: number;
  /** Give up on a message that is still not confirmed after this long (ms). */
  giveUpAfterMs: number;
}

/**
 * Publishes the workload with confirms (mandatory: a confirm then means "in a queue"), re-sending any message
 * whose publish failed until it is confirmed. Only confirmed messages count: those are the ones the platform
 * promised not to lose.
 */
export class LoadGenerator {
  readonly progress: LoadProgress = {
    published: 0,
    confirmedMessages: 0,
    confirmedSamples: 0,
    confirmedEntries: 0,
    confirmedMalformed: 0,
    retries: 0,
  };
  readonly good: ConfirmedGood[] = [];
  readonly malformed: ConfirmedMalformed[] = [];
  readonly failed: string[] = [];
  private readonly opts: LoadGeneratorOptions;

  constructor(opts: LoadGeneratorOptions) {
    this.opts = opts;
  }

  async run(messages: Iterable<WorkloadMessage>): Promise<void> {
    const started = Date.now();
    const inFlight = new Set<Promise<void>>();
    let index = 0;
    for (const m of messages) {
      // pacing: message i is due at started + i * duration / total
      if (this.opts.durationMs > 0) {
        const due = started + (index * this.opts.durationMs) / this.opts.totalMessages;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      index++;
      while (inFlight.size >= this.opts.window) await Promise.race(inFlight);
      const p = this.publishUntilConfirmed(m).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  }

  private async publishUntilConfirmed(m: WorkloadMessage): Promise<void> {
    const first = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        this.progress.published++;
        await this.opts.bus.publish(m.routingKey, m.body, {
          contentType: m.contentType,
          messageId: m.id,
          mandatory: true,
        });
        break;
      } catch (err) {
        if (Date.now() - first > this.opts.giveUpAfterMs) {
          this.failed.push(`${m.id}: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        this.progress.retries++;
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
    this.progress.confirmedMessages++;
    if (m.kind === 'malformed') {
      this.progress.confirmedMalformed++;
      this.malformed.push({ id: m.id, malformed: m.malformed, reason: m.reason });
      return;
    }
    const g: GoodMessage = m;
    if (g.kind === 'data') this.progress.confirmedSamples += g.rows;
    else this.progress.confirmedEntries += g.rows;
    this.good.push({ kind: g.kind, serial: g.serial, seq: g.seq, rows: g.rows, checksum: g.checksum });
  }
}
