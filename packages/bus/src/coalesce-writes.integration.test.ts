import { type ChannelModel, connect } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { coalesceWrites } from './coalesce-writes.js';
import { createTestVhost } from './testing/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Socket writes (write or writev calls reaching the socket's handle) while `n` messages are published in one tick. */
async function socketWritesFor(model: ChannelModel, n: number): Promise<number> {
  const socket = (model as unknown as { connection: { stream: Record<string, unknown> } }).connection.stream;
  const ch = await model.createConfirmChannel();
  let writes = 0;
  for (const name of ['_write', '_writev'] as const) {
    const original = socket[name] as (...args: unknown[]) => unknown;
    socket[name] = function (this: unknown, ...args: unknown[]) {
      writes++;
      return original.apply(this, args);
    };
  }
  for (let i = 0; i < n; i++) ch.publish('amq.topic', 'nowhere', Buffer.from(`m${i}`));
  await ch.waitForConfirms();
  await ch.close();
  return writes;
}

describe('coalesceWrites against the real broker', () => {
  it('sends the frames published in one tick in a few socket writes, not one each', async () => {
    const vhost = await createTestVhost('bus-coalesce');
    cleanups.push(() => vhost.drop());
    const plain = await connect(vhost.url, { noDelay: true });
    cleanups.push(() => plain.close());
    const coalesced = await connect(vhost.url, { noDelay: true });
    cleanups.push(() => coalesced.close());

    expect(coalesceWrites(coalesced)).toBe(true);
    expect(coalesceWrites(coalesced)).toBe(true); // idempotent: not wrapped twice
    const n = 200;
    // without it, every frame is a write of its own (the baseline this test has to tell apart)
    expect(await socketWritesFor(plain, n)).toBeGreaterThanOrEqual(n);
    expect(await socketWritesFor(coalesced, n)).toBeLessThanOrEqual(5);
  });

  it('returns false for an object that is not an amqplib connection (the warning path)', () => {
    expect(coalesceWrites({} as ChannelModel)).toBe(false);
  });
});
