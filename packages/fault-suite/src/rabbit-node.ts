import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runCommand, sleep, waitUntil } from './run-command.js';

const RABBIT_BIN = process.env.FAULTS_RABBITMQ_BIN ?? '/usr/lib/rabbitmq/bin';

export interface RabbitNodeOptions {
  /** consumer_timeout of this node in ms (the suite makes PostgreSQL unavailable for longer). */
  consumerTimeoutMs: number;
  /** max_message_size in bytes (RabbitMQ refuses bigger publishes). Default 16 MiB. */
  maxMessageSize?: number;
}

/**
 * A throwaway RabbitMQ node of its own (own node name, AMQP, distribution and management ports, data
 * in a temp dir), so the suite can restart it and close its connections without touching the shared broker.
 * As root the node runs as the `rabbitmq` user (it owns the temp dir and uses that user's Erlang cookie).
 */
export class RabbitNode {
  readonly nodeName: string;
  readonly amqpPort: number;
  readonly managementPort: number;
  private readonly distPort: number;
  private readonly dir: string;
  private readonly opts: RabbitNodeOptions;

  private constructor(
    dir: string,
    ports: { amqp: number; dist: number; mgmt: number },
    opts: RabbitNodeOptions,
  ) {
    this.dir = dir;
    this.amqpPort = ports.amqp;
    this.distPort = ports.dist;
    this.managementPort = ports.mgmt;
    this.opts = opts;
    this.nodeName = `faults-${process.pid}-${ports.amqp}@localhost`;
  }

  static async create(opts: RabbitNodeOptions): Promise<RabbitNode> {
    const dir = await mkdtemp(join(tmpdir(), 'faults-rabbit-'));
    const node = new RabbitNode(
      dir,
      { amqp: await freePort(), dist: await freePort(), mgmt: await freePort() },
      opts,
    );
    await node.writeConfig();
    return node;
  }

  get amqpUrl(): string {
    return `amqp://guest:guest@127.0.0.1:${this.amqpPort}`;
  }

  get managementUrl(): string {
    return `http://guest:guest@127.0.0.1:${this.managementPort}`;
  }

  private async writeConfig(): Promise<void> {
    await mkdir(join(this.dir, 'mnesia'), { recursive: true });
    await mkdir(join(this.dir, 'log'), { recursive: true });
    await mkdir(join(this.dir, 'conf.d'), { recursive: true });
    await writeFile(
      join(this.dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.default = 127.0.0.1:${this.amqpPort}`,
        `management.tcp.port = ${this.managementPort}`,
        'management.tcp.ip = 127.0.0.1',
        `consumer_timeout = ${this.opts.consumerTimeoutMs}`,
        `max_message_size = ${this.opts.maxMessageSize ?? 16 * 1024 * 1024}`,
        'loopback_users = none',
        // a small, frugal node on a shared machine
        'vm_memory_high_watermark.absolute = 512MB',
        'disk_free_limit.absolute = 200MB',
        'collect_statistics_interval = 2000',
        '',
      ].join('\n'),
    );
    await writeFile(join(this.dir, 'enabled_plugins'), '[rabbitmq_management].\n');
    await writeFile(join(this.dir, 'rabbitmq-env.conf'), 'ERL_EPMD_ADDRESS=127.0.0.1\n');
    if (process.getuid?.() === 0) {
      const { stdout } = await runCommand('id', ['-u', 'rabbitmq']);
      const { stdout: gid } = await runCommand('id', ['-g', 'rabbitmq']);
      const uid = Number(stdout.trim());
      const g = Number(gid.trim());
      for (const p of [
        '',
        'mnesia',
        'log',
        'conf.d',
        'rabbitmq.conf',
        'enabled_plugins',
        'rabbitmq-env.conf',
      ])
        await chown(join(this.dir, p), uid, g);
      await chmod(this.dir, 0o750);
    }
  }

  private env(): NodeJS.ProcessEnv {
    return {
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.amqpPort),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_CONFIG_FILES: join(this.dir, 'conf.d'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_PID_FILE: join(this.dir, 'rabbit.pid'),
      HOME: process.getuid?.() === 0 ? '/var/lib/rabbitmq' : (process.env.HOME ?? this.dir),
    };
  }

  private async ctl(args: string[], timeoutMs = 120_000): Promise<string> {
    const { stdout } = await runCommand(join(RABBIT_BIN, 'rabbitmqctl'), ['-n', this.nodeName, ...args], {
      asUser: 'rabbitmq',
      env: this.env(),
      timeoutMs,
    });
    return stdout;
  }

  /** Starts the node and waits until it accepts AMQP connections. */
  async start(): Promise<void> {
    await runCommand(join(RABBIT_BIN, 'rabbitmq-server'), ['-detached'], {
      asUser: 'rabbitmq',
      env: this.env(),
      cwd: this.dir,
    });
    // -detached returns before the node has registered with epmd: retry until the CLI finds it
    const deadline = Date.now() + 150_000;
    for (;;) {
      try {
        await this.ctl(['await_startup', '--timeout', '120'], 150_000);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(1000);
      }
    }
  }

  /** The dead-letter queue's bounds as the README documents them (a policy: stays across restarts). */
  async boundDeadLetterQueue(maxLength = 100_000, ttlMs = 14 * 24 * 3600 * 1000): Promise<void> {
    await this.ctl([
      'set_policy',
      '--apply-to',
      'queues',
      'sensor-streaming-dead',
      '^sensor_streaming\\.dead$',
      JSON.stringify({ 'max-length': maxLength, 'message-ttl': ttlMs, overflow: 'drop-head' }),
    ]);
  }

  /** Stops the node (queues and messages stay on disk for the next start). */
  async stop(): Promise<void> {
    await this.ctl(['shutdown'], 120_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Closes every client connection from the broker side (as an operator would). */
  async closeAllConnections(reason = 'fault suite: connections closed by the broker'): Promise<void> {
    await this.ctl(['close_all_connections', reason]);
  }

  /** `messages` (ready + unacked) of each queue. */
  async queueDepths(): Promise<Map<string, { ready: number; unacked: number }>> {
    const out = await this.ctl([
      'list_queues',
      '--quiet',
      '--no-table-headers',
      'name',
      'messages_ready',
      'messages_unacknowledged',
    ]);
    const depths = new Map<string, { ready: number; unacked: number }>();
    for (const line of out.split('\n')) {
      const [name, ready, unacked] = line.trim().split(/\s+/);
      if (name && ready !== undefined && unacked !== undefined)
        depths.set(name, { ready: Number(ready), unacked: Number(unacked) });
    }
    return depths;
  }

  /** Stops the node if it runs and removes its data. */
  async destroy(): Promise<void> {
    try {
      await this.ctl(['shutdown'], 60_000);
    } catch {
      // not running
    }
    await waitUntil(async () => !(await this.isRunning()), 'the RabbitMQ node to stop', 30_000).catch(
      () => undefined,
    );
    await rm(this.dir, { recursive: true, force: true });
  }

  async isRunning(): Promise<boolean> {
    try {
      await this.ctl(['status'], 20_000);
      return true;
    } catch {
      return false;
    }
  }
}
