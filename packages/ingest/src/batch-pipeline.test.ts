import {
  type Delivery,
  DependencyUnavailableError,
  isPermanentError,
  isReleaseError,
} from '@sensor-streaming/bus';
import { createLogger } from '@sensor-streaming/runtime';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type BatchPipelineOptions,
  createBatchPipeline,
  PipelineStoppedError,
  type ResolvedMessage,
  RoutingMismatchError,
} from './batch-pipeline.js';

const logger = createLogger({ service: 'test', level: 'silent' });

class BadInput extends Error {
  readonly code = 'PROTOCOL_INVALID';
  readonly permanent = true;
}

function delivery(body: string): Delivery {
  return {
    body: Buffer.from(body),
    routingKey: `sensor.${body.split(':')[0]}.data`,
    contentType: undefined,
    headers: {},
    redelivered: false,
    deliveryCount: 1,
    exchange: 'sensor_streaming',
    queue: 'q',
  };
}

/** Bodies are `serial:value`; `bad` fails decoding, `mismatch` fails the routing check, `poison` the database. */
function decode(d: Delivery): { value: string; serial: string } {
  const [serial = '', value = ''] = d.body.toString().split(':');
  if (value === 'bad') throw new BadInput('values[0]: must be finite');
  if (value === 'mismatch') throw new RoutingMismatchError('routing key does not match');
  return { value, serial };
}

class DataError extends Error {
  readonly code = '22P02';
}
class ConnectionRefused extends Error {
  readonly code = 'ECONNREFUSED';
}

describe('batch pipeline', () => {
  let written: string[];
  let failWrites: number;
  let writeCalls: number;
  let healthChanges: boolean[];
  let rejectedCodes: string[];

  function pipeline(over: Partial<BatchPipelineOptions<string>> = {}) {
    return createBatchPipeline<string>({
      logger,
      decode,
      resolveSensorIds: async (serials) => new Map(serials.map((s, i) => [s, i + 1])),
      async write(messages: readonly ResolvedMessage<string>[]) {
        writeCalls++;
        if (failWrites > 0) {
          failWrites--;
          throw new ConnectionRefused('connect ECONNREFUSED 127.0.0.1:5432');
        }
        if (messages.some((m) => m.value === 'poison')) throw new DataError('invalid input syntax');
        written.push(...messages.map((m) => `${m.sensorId}:${m.value}`));
      },
      isRowDataError: (err) => err instanceof DataError,
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
      onHealthChange: (h) => healthChanges.push(h),
      onRejected: (r) => rejectedCodes.push(r.code),
      ...over,
    });
  }

  beforeEach(() => {
    written = [];
    failWrites = 0;
    writeCalls = 0;
    healthChanges = [];
    rejectedCodes = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes every valid message and acks them all', async () => {
    const out = await pipeline().handle([delivery('a:1'), delivery('b:2'), delivery('a:3')]);
    expect(out.rejected).toEqual([]);
    expect(written).toEqual(['1:1', '2:2', '1:3']);
    expect(writeCalls).toBe(1);
  });

  it('rejects an invalid message by its index with the reason and writes the rest', async () => {
    const out = await pipeline().handle([
      delivery('a:1'),
      delivery('a:bad'),
      delivery('b:mismatch'),
      delivery('b:4'),
    ]);
    expect(out.rejected).toEqual([
      { index: 1, reason: 'PROTOCOL_INVALID: values[0]: must be finite' },
      { index: 2, reason: 'ROUTING_KEY_MISMATCH: routing key does not match' },
    ]);
    expect(rejectedCodes).toEqual(['invalid', 'routing_key_mismatch']);
    expect(written).toEqual(['1:1', '2:4']);
  });

  it('finds a message the database refuses by bisection, rejects it and writes every other one', async () => {
    const bodies = ['a:1', 'a:2', 'a:3', 'a:poison', 'a:5', 'a:6', 'a:7'];
    const out = await pipeline().handle(bodies.map(delivery));
    expect(out.rejected).toEqual([{ index: 3, reason: 'DB_REJECTED: invalid input syntax' }]);
    expect(rejectedCodes).toEqual(['db_rejected']);
    expect(written.sort()).toEqual(['1:1', '1:2', '1:3', '1:5', '1:6', '1:7']);
  });

  it('does not call the database for a batch of only invalid messages', async () => {
    const out = await pipeline().handle([delivery('a:bad')]);
    expect(out.rejected).toHaveLength(1);
    expect(writeCalls).toBe(0);
  });

  it('holds the batch while the database is unavailable, retrying with backoff, then writes it', async () => {
    vi.useFakeTimers();
    failWrites = 3;
    const p = pipeline();
    let settled = false;
    const done = p.handle([delivery('a:1'), delivery('a:2')]).then((o) => {
      settled = true;
      return o;
    });

    await vi.advanceTimersByTimeAsync(0);
    expect(p.isHealthy()).toBe(false);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400);
    const out = await done;

    expect(out.rejected).toEqual([]);
    expect(writeCalls).toBe(4);
    expect(written).toEqual(['1:1', '1:2']);
    expect(healthChanges).toEqual([false, true]);
    expect(p.isHealthy()).toBe(true);
  });

  it('releases the batch (DependencyUnavailableError, never held past releaseAfterMs) when the database stays down', async () => {
    vi.useFakeTimers();
    failWrites = 1_000;
    const p = pipeline({ releaseAfterMs: 1000 });
    const done = p.handle([delivery('a:1')]).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const err = await done;
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(isReleaseError(err)).toBe(true);
    expect(isPermanentError(err)).toBe(false);
    expect(writeCalls).toBeGreaterThan(1);
    expect(p.isHealthy()).toBe(false);

    // known unavailable: the next batch is tried once and released at once, without waiting
    const before = writeCalls;
    await expect(p.handle([delivery('a:2')])).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(writeCalls).toBe(before + 1);

    // the probe saw it answer again: back to normal, and a write that works makes it healthy
    p.recovered();
    expect(p.isHealthy()).toBe(true);
    failWrites = 0;
    expect((await p.handle([delivery('a:3')])).rejected).toEqual([]);
    expect(written).toEqual(['1:3']);
  });

  it('keeps retrying a failing sensor-id lookup the same way', async () => {
    vi.useFakeTimers();
    let lookups = 0;
    const p = pipeline({
      resolveSensorIds: async (serials) => {
        lookups++;
        if (lookups < 3) throw new ConnectionRefused('database is not accepting connections');
        return new Map(serials.map((s) => [s, 9]));
      },
    });
    const done = p.handle([delivery('z:1')]);
    await vi.advanceTimersByTimeAsync(5000);
    expect((await done).rejected).toEqual([]);
    expect(written).toEqual(['9:1']);
  });

  it('gives a held batch back (a release error, so the bus releases it uncounted) when stopped', async () => {
    vi.useFakeTimers();
    failWrites = 1_000;
    const p = pipeline();
    const done = p.handle([delivery('a:1')]).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    p.stop();
    const err = await done;
    expect(err).toBeInstanceOf(PipelineStoppedError);
    expect((err as { permanent?: unknown }).permanent).toBeUndefined();
    expect(isReleaseError(err)).toBe(true);
    expect(written).toEqual([]);
  });

  it('after stop still writes a batch when the database works (drain on shutdown)', async () => {
    const p = pipeline();
    p.stop();
    expect((await p.handle([delivery('a:1')])).rejected).toEqual([]);
    expect(written).toEqual(['1:1']);
  });
});

describe('batch pipeline with closed registration', () => {
  it('dead-letters the messages of refused serials with the reason and never resolves or writes them', async () => {
    const resolved: string[][] = [];
    const written: string[] = [];
    const rejectedCodes: string[] = [];
    const p = createBatchPipeline<string>({
      logger,
      decode,
      registration: {
        refused: async (serials) => new Set(serials.filter((s) => s.startsWith('rogue'))),
        reason: (serial) => `UNPROVISIONED: unprovisioned serial ${serial}`,
      },
      resolveSensorIds: async (serials) => {
        resolved.push([...serials]);
        return new Map(serials.map((s, i) => [s, i + 1]));
      },
      async write(messages) {
        written.push(...messages.map((m) => `${m.serial}:${m.value}`));
      },
      isRowDataError: () => false,
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
      onRejected: (r) => rejectedCodes.push(r.code),
    });
    const out = await p.handle([delivery('a:1'), delivery('rogue-1:2'), delivery('a:3')]);
    expect(out.rejected).toEqual([{ index: 1, reason: 'UNPROVISIONED: unprovisioned serial rogue-1' }]);
    expect(rejectedCodes).toEqual(['unprovisioned']);
    expect(resolved).toEqual([['a']]);
    expect(written).toEqual(['a:1', 'a:3']);

    // a batch of only refused serials touches neither the sensor ids nor the writer
    const out2 = await p.handle([delivery('rogue-2:1'), delivery('rogue-3:1')]);
    expect(out2.rejected?.map((r) => r.index)).toEqual([0, 1]);
    expect(resolved).toHaveLength(1);
    expect(written).toHaveLength(2);
  });
});
