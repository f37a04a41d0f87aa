import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A RabbitMQ node of our own for the security attacks, configured as
 * production should be: MQTT plugin with anonymous connections refused,
 * management for provisioning. Its own ports, node name and data directory;
 * the machine's shared broker is never touched. Needs root and rabbitmq-server.
 */
export interface ThrowawayBroker {
  amqpUrl: string;
  managementUrl: string;
  mqttUrl: string;
  destroy(): Promise<void>;
}

export function canStartThrowawayBroker(): boolean {
  return process.getuid?.() === 0 && existsSync('/usr/sbin/rabbitmq-server');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      server.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ThrowawayBrokerOptions {
  /**
   * The node's open-files limit (soft and hard), set with prlimit before it
   * starts: one per MQTT/AMQP connection plus the queues' files. Default:
   * this process's own limit. Raising it past this process's hard limit needs
   * CAP_SYS_RESOURCE. Each MQTT device holds one descriptor on the node.
   */
  nofile?: number;
  /**
   * `collect_statistics_interval` (RabbitMQ's default 5000 ms): every connection, channel and
   * queue reports its statistics this often: 40,000 objects for 10,000 MQTT devices (each a
   * connection, two internal channels and a session queue).
   */
  statisticsIntervalMs?: number;
}

export async function startThrowawayBroker(opts: ThrowawayBrokerOptions = {}): Promise<ThrowawayBroker> {
  if (opts.nofile !== undefined && (!Number.isInteger(opts.nofile) || opts.nofile < 1024))
    throw new RangeError(`startThrowawayBroker: nofile must be an integer >= 1024, got ${opts.nofile}`);
  const [amqp, dist, management, mqtt, prometheus] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const dir = mkdtempSync(path.join(tmpdir(), 'ss-security-rabbit-'));
  for (const d of ['mnesia', 'log', 'conf.d']) mkdirSync(path.join(dir, d));
  writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${amqp}`,
      `management.tcp.port = ${management}`,
      `management.tcp.ip = 127.0.0.1`,
      `prometheus.tcp.port = ${prometheus}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqtt}`,
      'mqtt.allow_anonymous = false',
      ...(opts.statisticsIntervalMs === undefined
        ? []
        : [`collect_statistics_interval = ${opts.statisticsIntervalMs}`]),
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_management,rabbitmq_mqtt].\n');
  const uid = Number((await run('id', ['-u', 'rabbitmq'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'rabbitmq'])).stdout.trim());
  for (const p of ['', 'mnesia', 'log', 'conf.d', 'rabbitmq.conf', 'enabled_plugins'])
    chownSync(path.join(dir, p), uid, gid);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RABBITMQ_NODENAME: `sssec${process.pid}x${amqp}@localhost`,
    RABBITMQ_NODE_PORT: String(amqp),
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    // Not the machine's /etc/rabbitmq/conf.d: its listeners (MQTT 1884...) are the shared broker's.
    RABBITMQ_CONFIG_FILES: path.join(dir, 'conf.d'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
  };
  const ctl = (...args: string[]) => run('rabbitmqctl', args, { env, cwd: '/tmp', timeout: 120_000 });
  // /usr/sbin/rabbitmq-server switches to the rabbitmq user with `su`, whose PAM limits cut the
  // open-files soft limit to 1024 (the machine's broker runs so): about 1000 MQTT connections at
  // most. setpriv switches user without PAM, keeping this process's limit.
  // prlimit (we are root) raises both limits for the node before setpriv drops to rabbitmq.
  const [cmd0, args0, cwd, home] = existsSync('/usr/bin/setpriv')
    ? [
        '/usr/bin/setpriv',
        [
          '--reuid=rabbitmq',
          '--regid=rabbitmq',
          '--init-groups',
          '/usr/lib/rabbitmq/bin/rabbitmq-server',
          '-detached',
        ],
        '/var/lib/rabbitmq',
        '/var/lib/rabbitmq',
      ]
    : ['rabbitmq-server', ['-detached'], '/tmp', process.env.HOME];
  const [cmd, args] =
    opts.nofile === undefined
      ? [cmd0, args0]
      : ['/usr/bin/prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, cmd0, ...args0]];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...env, HOME: home }, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${stderr.trim().slice(0, 500)}`)),
    );
  }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let osPid: number | undefined;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let destroying: Promise<void> | undefined;
  // Once, however many callers. A node holding thousands of MQTT sessions can take minutes to
  // stop them one by one: past the timeout it is killed (its data directory is thrown away anyway).
  const destroy = (): Promise<void> =>
    (destroying ??= (async () => {
      await run('rabbitmqctl', ['-q', 'shutdown'], { env, cwd: '/tmp', timeout: 60_000 }).catch(
        () => undefined,
      );
      if (osPid !== undefined && alive(osPid)) {
        process.kill(osPid, 'SIGKILL');
        for (let i = 0; i < 50 && alive(osPid); i++) await new Promise((r) => setTimeout(r, 100));
      }
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    const deadline = Date.now() + 120_000;
    while (!(await answers(amqp))) {
      if (Date.now() > deadline) throw new Error(`throwaway RabbitMQ did not listen on ${amqp} within 120 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await ctl('-q', 'await_startup', '--timeout', '120');
    const pidText = readFileSync(path.join(dir, 'rabbit.pid'), 'utf8').trim();
    if (/^\d+$/.test(pidText)) osPid = Number(pidText);
    while (!(await answers(management)) || !(await answers(mqtt))) {
      if (Date.now() > deadline)
        throw new Error('throwaway RabbitMQ: management or MQTT listener did not start');
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    amqpUrl: `amqp://guest:guest@127.0.0.1:${amqp}`,
    managementUrl: `http://guest:guest@127.0.0.1:${management}`,
    mqttUrl: `mqtt://127.0.0.1:${mqtt}`,
    destroy,
  };
}
