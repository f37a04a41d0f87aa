import { type Pool, type PoolClient, tryAdvisoryLock } from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';

export interface LeadershipOptions {
  pool: Pool;
  /** Advisory lock name; replicas sharing it elect one active evaluator. */
  key: string;
  retryMs: number;
  logger: Logger;
  onAcquire(): Promise<void>;
  onLose(): Promise<void>;
}

/**
 * One active evaluator among replicas: a session-level PostgreSQL advisory
 * lock held on a dedicated connection. The holder consumes and evaluates;
 * the others wait and retry every `retryMs`. If the holder dies its session
 * ends and the lock is free; if its connection breaks it stops evaluating.
 *
 * (RabbitMQ's x-single-active-consumer on the quorum queue would do the same
 * at the broker; the bus's QueueSpec cannot declare it yet.)
 */
export class Leadership {
  private client: PoolClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: LeadershipOptions) {
    this.log = opts.logger.child({ module: 'leadership' });
  }

  get isLeader(): boolean {
    return this.client !== undefined;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.busy;
    if (this.client) await this.lose('stopping');
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.busy = this.step().finally(() => this.schedule(this.opts.retryMs));
    }, ms);
  }

  private async step(): Promise<void> {
    if (this.client) {
      try {
        await this.client.query('SELECT 1');
      } catch (err) {
        this.log.error({ err }, 'lost the leader connection: standing down');
        await this.lose('connection lost');
      }
      return;
    }
    let client: PoolClient | undefined;
    try {
      client = await this.opts.pool.connect();
      if (!(await tryAdvisoryLock(client, this.opts.key))) {
        client.release();
        return;
      }
    } catch (err) {
      client?.release(true);
      this.log.warn({ err }, 'leader election failed; retrying');
      return;
    }
    client.on('error', (err) => this.log.error({ err }, 'leader connection error'));
    this.client = client;
    this.log.info({ key: this.opts.key }, 'became the active evaluator');
    try {
      await this.opts.onAcquire();
    } catch (err) {
      this.log.error({ err }, 'could not start evaluating; giving up leadership');
      await this.lose('start failed');
    }
  }

  private async lose(reason: string): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    try {
      await this.opts.onLose();
    } catch (err) {
      this.log.error({ err }, 'error while standing down');
    } finally {
      this.client = undefined;
      client.release(true); // closing the session releases the advisory lock
      this.log.info({ reason }, 'no longer the active evaluator');
    }
  }
}
