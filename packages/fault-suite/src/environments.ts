import { createPool, loadMigrateConfig, migrate, silentLogger } from '@sensor-streaming/db';
import type { FaultEnvironment } from './fault-run.js';
import { PostgresInstance } from './postgres-instance.js';
import { RabbitNode } from './rabbit-node.js';

export interface OwnedEnvironment {
  env: FaultEnvironment;
  rabbit: RabbitNode;
  postgres: PostgresInstance;
  /** Stops and removes the broker node and the database instance. Safe to call twice. */
  teardown(): Promise<void>;
}

/** Messages ready in a queue, by a passive declare (throws while the broker is away). */
export async function readyMessages(amqpUrl: string, queue: string): Promise<number> {
  const { connect } = await import('amqplib');
  const conn = await connect(amqpUrl);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * A RabbitMQ node and a PostgreSQL instance of the suite's own, on free ports, that it may restart, crash
 * and stop: the shared ones on 5672 / 5432 are never touched.
 */
export async function createOwnedEnvironment(opts: {
  consumerTimeoutMs: number;
  print: (line: string) => void;
}): Promise<OwnedEnvironment> {
  const postgres = await PostgresInstance.create();
  let rabbit: RabbitNode | undefined;
  let pool: ReturnType<typeof createPool> | undefined;
  let tornDown = false;
  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    await pool?.end().catch(() => undefined);
    await rabbit
      ?.destroy()
      .catch((err: unknown) => opts.print(`faults: cannot remove the RabbitMQ node: ${String(err)}`));
    await postgres
      .destroy()
      .catch((err: unknown) => opts.print(`faults: cannot remove PostgreSQL: ${String(err)}`));
  };
  try {
    await postgres.start();
    const databaseUrl = postgres.url('sensor_streaming');
    await migrate(loadMigrateConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }), silentLogger);
    opts.print(`faults: PostgreSQL of its own on 127.0.0.1:${postgres.port}, migrated`);
    rabbit = await RabbitNode.create({ consumerTimeoutMs: opts.consumerTimeoutMs });
    await rabbit.start();
    await rabbit.boundDeadLetterQueue();
    opts.print(
      `faults: RabbitMQ node ${rabbit.nodeName} on 127.0.0.1:${rabbit.amqpPort} (management ${rabbit.managementPort}), consumer_timeout ${opts.consumerTimeoutMs} ms`,
    );
    pool = createPool({ url: databaseUrl, logger: silentLogger, max: 2, connectionTimeoutMs: 3000 });
    const node = rabbit;
    const pg = postgres;
    const env: FaultEnvironment = {
      amqpUrl: node.amqpUrl,
      databaseUrl,
      pool,
      consumerTimeoutMs: opts.consumerTimeoutMs,
      closeConnections: () => node.closeAllConnections(),
      restartBroker: () => node.restart(),
      crashDatabase: () => pg.restart(),
      stopDatabase: () => pg.stop('fast'),
      startDatabase: () => pg.start(),
      queueMessages: (q) => readyMessages(node.amqpUrl, q),
    };
    return { env, rabbit, postgres, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}
