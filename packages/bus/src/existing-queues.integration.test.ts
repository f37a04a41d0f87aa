import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { createBus } from './bus.js';
import { createTestVhost } from './testing/index.js';
import { commandQueue } from './topology.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('existingQueues tells which queues exist, across misses, without creating any', async () => {
  const vhost = await createTestVhost('bus');
  cleanups.push(() => vhost.drop());
  const bus = createBus({
    url: vhost.url,
    connectionName: `bus-test-${randomUUID()}`,
    logger,
    registry: new Registry(),
  });
  cleanups.push(() => bus.stop());
  await bus.start();
  const present = Array.from({ length: 30 }, (_, i) => `sensor.s${i}.commands`);
  for (let i = 0; i < 30; i++) await bus.declareQueue(commandQueue(`s${i}`, 60_000));
  const missing = Array.from({ length: 20 }, (_, i) => `sensor.ghost${i}.commands`);
  const asked = [...present, ...missing].sort(() => Math.random() - 0.5);

  const found = await bus.existingQueues(asked);

  expect([...found].sort()).toEqual([...present].sort());
  // Asking again still finds none of the missing ones: the check created nothing.
  expect((await bus.existingQueues(missing)).size).toBe(0);
  expect((await bus.existingQueues([])).size).toBe(0);
});
