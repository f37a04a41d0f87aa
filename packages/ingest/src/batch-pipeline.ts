// The batch pipeline both ingesters share: decode -> resolve sensor ids ->
// write (one transaction) -> ack / reject / release.
import {
  backoffDelay,
  type BatchOutcome,
  type Delivery,
  DependencyUnavailableError,
} from '@sensor-streaming/bus';
import type { Logger } from '@sensor-streaming/runtime';

/** A decoded message with the serial its rows belong to. */
export interface DecodedMessage<T> {
  /** Index in the delivered batch. */
  index: number;
  value: T;
  serial: string;
}

/** A decoded message whose sensor id is known. */
export interface ResolvedMessage<T> extends DecodedMessage<T> {
  sensorId: number;
}

export interface Rejection {
  index: number;
  /** Goes to the dead-letter header: what is wrong, for a person. */
  reason: string;
  /** Bounded metric label: `invalid`, `routing_key_mismatch`, `db_rejected`, ... */
  code: string;
}

export interface BatchPipelineOptions<T> {
  logger: Logger;
  /** Validates and decodes one delivery; throws for bad input (the message is rejected, never retried). */
  decode(d: Delivery): { value: T; serial: string };
  /**
   * Closed registration: which serials of a batch must be refused (not provisioned, or revoked). Their
   * messages are dead-lettered with `reason(serial)` and never reach resolveSensorIds or write, so they
   * create no sensors row. A throw is treated like an unavailable database (the batch is retried).
   * Absent: every serial is admitted (open registration).
   */
  registration?: {
    refused(serials: readonly string[]): Promise<ReadonlySet<string>>;
    reason(serial: string): string;
  };
  /** serial -> sensor id for every serial, creating unknown sensors. */
  resolveSensorIds(serials: readonly string[]): Promise<Map<string, number>>;
  /** Writes the messages in one transaction; resolves after the commit. */
  write(messages: readonly ResolvedMessage<T>[]): Promise<void>;
  /** True when `err` was caused by the rows (retrying the same rows cannot help). */
  isRowDataError(err: unknown): boolean;
  /** After a commit, with the commit time (ms since epoch). */
  onWritten?(messages: readonly ResolvedMessage<T>[], writeSeconds: number, commitTimeMs: number): void;
  onRejected?(rejection: Rejection): void;
  /** Backoff between attempts while the database is unavailable. */
  retry: { initialDelayMs: number; maxDelayMs: number };
  /**
   * How long a batch is held (unacked, retried) when writes fail for a reason other than its rows, before
   * it is given back to the queue uncounted (DependencyUnavailableError). Rides out a blip without churn;
   * keep it far below the broker's consumer_timeout. While the pipeline is unhealthy later batches are tried
   * once and released at once. Default 5000.
   */
  releaseAfterMs?: number;
  /** Called when writes start failing (false) or succeed again (true). */
  onHealthChange?(healthy: boolean): void;
  now?: () => number;
}

export interface BatchPipeline {
  /** The bus batch handler: rejects bad messages by index, holds the batch (unacked) while the database is down. */
  handle(deliveries: Delivery[]): Promise<BatchOutcome>;
  /** False while writes are failing for a reason other than the rows themselves. */
  isHealthy(): boolean;
  /** The database answers again (a probe succeeded): healthy until a write fails. */
  recovered(): void;
  /** Stop retrying: a batch held for an unavailable database is released to the queue (uncounted). */
  stop(): void;
}

/** Thrown to the bus when stopping while the database is unavailable: the batch is released, not lost. */
export class PipelineStoppedError extends Error {
  readonly code = 'INGEST_STOPPED';
  /** The bus gives the batch back to the queue without counting a delivery (see isReleaseError). */
  readonly release = true;
  override readonly name = 'PipelineStoppedError';
}

/** A message that is valid protobuf but does not belong where it was routed. */
export class RoutingMismatchError extends Error {
  readonly code = 'ROUTING_KEY_MISMATCH';
  readonly permanent = true;
  override readonly name = 'RoutingMismatchError';
}

function errorCodeLabel(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'PROTOCOL_INVALID') return 'invalid';
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,40}$/.test(code)) return code.toLowerCase();
  return 'invalid';
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createBatchPipeline<T>(opts: BatchPipelineOptions<T>): BatchPipeline {
  const log = opts.logger;
  const now = opts.now ?? Date.now;
  const releaseAfterMs = opts.releaseAfterMs ?? 5_000;
  const aborter = new AbortController();
  let healthy = true;

  function setHealthy(h: boolean): void {
    if (h === healthy) return;
    healthy = h;
    opts.onHealthChange?.(h);
  }

  function reject(rejections: Rejection[], r: Rejection): void {
    rejections.push(r);
    opts.onRejected?.(r);
  }

  function decodeAll(deliveries: Delivery[], rejections: Rejection[]): DecodedMessage<T>[] {
    const ok: DecodedMessage<T>[] = [];
    deliveries.forEach((d, index) => {
      try {
        const { value, serial } = opts.decode(d);
        ok.push({ index, value, serial });
      } catch (err) {
        const permanent = (err as { permanent?: unknown } | null)?.permanent === true;
        if (!permanent)
          log.error({ err, routingKey: d.routingKey }, 'bug: decode threw a non-permanent error');
        const code = errorCodeLabel(err);
        reject(rejections, {
          index,
          code,
          reason: `${(err as { code?: string }).code ?? 'INVALID'}: ${message(err)}`,
        });
      }
    });
    return ok;
  }

  async function writeOnce(messages: ResolvedMessage<T>[]): Promise<void> {
    const started = now();
    await opts.write(messages);
    const committed = now();
    opts.onWritten?.(messages, (committed - started) / 1000, committed);
  }

  /** Writes; when the rows themselves are refused, bisects to find and reject the offending messages. */
  async function writeIsolating(messages: ResolvedMessage<T>[], rejections: Rejection[]): Promise<void> {
    try {
      await writeOnce(messages);
    } catch (err) {
      if (!opts.isRowDataError(err)) throw err;
      if (messages.length === 1) {
        const m = messages[0] as ResolvedMessage<T>;
        log.warn({ err, serial: m.serial }, 'database refused a message, dead-lettering it');
        rejections.push({ index: m.index, code: 'db_rejected', reason: `DB_REJECTED: ${message(err)}` });
        return;
      }
      const mid = messages.length >> 1;
      await writeIsolating(messages.slice(0, mid), rejections);
      await writeIsolating(messages.slice(mid), rejections);
    }
  }

  /** Resolves with the messages the database refused (reported only once the attempt succeeded). */
  async function attempt(decoded: DecodedMessage<T>[]): Promise<Rejection[]> {
    const refused: Rejection[] = [];
    let serials = [...new Set(decoded.map((m) => m.serial))];
    let admitted = decoded;
    if (opts.registration !== undefined) {
      const gate = opts.registration;
      const no = await gate.refused(serials);
      if (no.size > 0) {
        admitted = [];
        for (const m of decoded) {
          if (!no.has(m.serial)) admitted.push(m);
          else refused.push({ index: m.index, code: 'unprovisioned', reason: gate.reason(m.serial) });
        }
        serials = serials.filter((s) => !no.has(s));
        if (admitted.length === 0) return refused;
      }
    }
    const ids = await opts.resolveSensorIds(serials);
    const resolved = admitted.map((m) => {
      const sensorId = ids.get(m.serial);
      if (sensorId === undefined) throw new Error(`bug: no sensor id resolved for serial ${m.serial}`);
      return { ...m, sensorId };
    });
    await writeIsolating(resolved, refused);
    return refused;
  }

  async function sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        aborter.signal.removeEventListener('abort', done);
        resolve();
      }
      aborter.signal.addEventListener('abort', done, { once: true });
    });
  }

  return {
    async handle(deliveries) {
      const rejections: Rejection[] = [];
      const decoded = decodeAll(deliveries, rejections);
      if (decoded.length > 0) {
        const firstTry = now();
        // already known unavailable: one try, then straight back to the queue
        const budgetMs = healthy ? releaseAfterMs : 0;
        for (let failures = 0; ; ) {
          try {
            for (const r of await attempt(decoded)) reject(rejections, r);
            setHealthy(true);
            break;
          } catch (err) {
            failures++;
            setHealthy(false);
            if (aborter.signal.aborted) {
              throw new PipelineStoppedError(`stopping while the database is unavailable: ${message(err)}`, {
                cause: err,
              });
            }
            const delayMs = backoffDelay(failures, opts.retry);
            if (now() - firstTry + delayMs > budgetMs) {
              // Never hold deliveries through an outage: a held delivery returned by a restart, a closed
              // channel or the consumer timeout counts towards the delivery limit and ends in the DLQ.
              if (budgetMs > 0)
                log.warn(
                  { err, failures, messages: deliveries.length },
                  'database unavailable; releasing the batch to the queue',
                );
              throw new DependencyUnavailableError(`database unavailable: ${message(err)}`, { cause: err });
            }
            log.warn(
              { err, failures, delayMs, messages: deliveries.length },
              'write failed; holding the batch briefly and retrying',
            );
            await sleep(delayMs);
          }
        }
      }
      return { rejected: rejections.map(({ index, reason }) => ({ index, reason })) };
    },
    isHealthy: () => healthy,
    recovered() {
      setHealthy(true);
    },
    stop() {
      aborter.abort();
    },
  };
}
