import { randomBytes } from 'node:crypto';
import { closeConnectionsByName, createTestVhost, type TestVhost } from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyMessages } from './environments.js';
import { runFaults, summaryLine } from './fault-run.js';

// The short fault run of `pnpm test`: real ingester processes on the shared RabbitMQ (own vhost) and
// PostgreSQL (own database); one SIGKILL, one broker-side close of every connection, malformed traffic.
// `pnpm test:faults` runs the full version on a broker and database of its own (restarts, outages).

let vhost: TestVhost;
let db: TestDatabase;

beforeAll(async () => {
  vhost = await createTestVhost('faults');
  db = await createTestDatabase({ prefix: 'faults' });
});

afterAll(async () => {
  await db?.drop();
  await vhost?.drop();
});

describe('fault run (short)', () => {
  it('stores every confirmed sample and log entry exactly once and dead-letters every malformed message with its reason, through a SIGKILL and a broker-side connection close', async () => {
    const lines: string[] = [];
    const names = `faults-${randomBytes(3).toString('hex')}`;
    const result = await runFaults(
      {
        amqpUrl: vhost.url,
        databaseUrl: db.url,
        pool: db.pool,
        async closeConnections(services) {
          for (const s of services) await closeConnectionsByName(s.serviceName, { expect: 2 });
        },
        queueMessages: (q) => readyMessages(vhost.url, q),
      },
      {
        workload: {
          samples: 20_000,
          samplesPerMessage: 100,
          logEntries: 2_000,
          entriesPerMessage: 20,
          sensors: 5,
          malformedRatio: 0.1,
          prefix: names,
          t0Us: (Date.now() - 3600_000) * 1000,
        },
        loadDurationMs: 8_000,
        firstFaultAfterMs: 1_500,
        faultSpacingMs: 500,
        steps: [{ kind: 'kill', service: 'measurements-ingester-1' }, { kind: 'close-connections' }],
        measurementReplicas: 1,
        logReplicas: 1,
        serviceNamePrefix: names,
        recoveryTimeoutMs: 60_000,
        drainTimeoutMs: 60_000,
        print: (l) => lines.push(l),
        progressIntervalMs: 2_000,
      },
    );
    const summary = summaryLine(result);
    expect(result.problems, lines.join('\n')).toEqual([]);
    expect(result.missing).toBe(0);
    expect(result.duplicates).toBe(0);
    expect(result.confirmed).toBe(22_000);
    expect(result.stored).toBe(22_000);
    expect(result.samples.wrongChecksum + result.entries.wrongChecksum).toBe(0);
    expect(result.deadLetters.expected).toBeGreaterThan(20);
    expect(result.deadLettered).toBe(result.deadLetters.expected);
    expect(result.deadLetters.goodDeadLettered).toBe(0);
    expect(result.recoveries).toBe(2);
    expect(summary).toBe(
      `faults: 22000 confirmed, 22000 stored, 0 missing, 0 duplicates, ${result.deadLettered} dead-lettered, 2 recoveries`,
    );
  }, 120_000);
});
