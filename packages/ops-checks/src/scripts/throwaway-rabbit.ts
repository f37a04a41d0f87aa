import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Ports of a throwaway RabbitMQ node, all free when it was made. */
export interface ThrowawayPorts {
  amqp: number;
  dist: number;
  management: number;
  prometheus: number;
  mqtt: number;
}

/**
 * A second RabbitMQ node on its own ports, node name, config, plugin list and
 * data directory, in the state a new machine's broker is delivered in: running,
 * no plugins enabled, no MQTT listener configured. Needs root (the Debian
 * scripts run the node as the rabbitmq user) and rabbitmq-server installed.
 */
export interface ThrowawayRabbit {
  readonly dir: string;
  readonly ports: ThrowawayPorts;
  readonly confD: string;
  /** The environment that points RabbitMQ's CLI tools and our scripts at this node. */
  readonly env: NodeJS.ProcessEnv;
  start(): Promise<void>;
  ctl(...args: string[]): Promise<string>;
  plugins(...args: string[]): Promise<string>;
  destroy(): Promise<void>;
}

export function canRunThrowawayRabbit(): boolean {
  return process.getuid?.() === 0 && existsSync('/usr/sbin/rabbitmq-server');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function portAnswers(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function makeThrowawayRabbit(): Promise<ThrowawayRabbit> {
  const ports: ThrowawayPorts = {
    amqp: await freePort(),
    dist: await freePort(),
    management: await freePort(),
    prometheus: await freePort(),
    mqtt: await freePort(),
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'ss-rabbit-'));
  const confD = path.join(dir, 'conf.d');
  for (const d of [confD, path.join(dir, 'mnesia'), path.join(dir, 'log')]) mkdirSync(d, { recursive: true });
  // As a new machine's broker: AMQP listener only; the plugins' ports are set
  // here only so this node does not collide with the machine's own broker.
  writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    `listeners.tcp.default = 127.0.0.1:${ports.amqp}\nmanagement.tcp.port = ${ports.management}\nprometheus.tcp.port = ${ports.prometheus}\n`,
  );
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  const { stdout: uid } = await run('id', ['-u', 'rabbitmq']);
  const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
  const chownAll = (p: string) => chownSync(p, Number(uid.trim()), Number(gid.trim()));
  for (const p of [dir, confD, path.join(dir, 'mnesia'), path.join(dir, 'log')]) chownAll(p);
  chownAll(path.join(dir, 'rabbitmq.conf'));
  chownAll(path.join(dir, 'enabled_plugins'));

  const node = `sstest${process.pid}x${ports.amqp}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(ports.amqp),
    RABBITMQ_DIST_PORT: String(ports.dist),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_CONFIG_FILES: confD,
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    // its own env file (RabbitMQ sources it at start; ensure-services.sh writes the open-files line there)
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    AMQP_URL: `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    MQTT_URL: `mqtt://127.0.0.1:${ports.mqtt}`,
    RABBITMQ_MANAGEMENT_PORT: String(ports.management),
    RABBITMQ_PROMETHEUS_PORT: String(ports.prometheus),
    SERVICES_LOCK_FILE: path.join(dir, 'ensure-services.lock'),
    NO_COLOR: '1',
  };
  const tool = async (name: string, args: string[]) =>
    (await run(name, args, { env, cwd: '/tmp', timeout: 120_000 })).stdout;

  return {
    dir,
    ports,
    confD,
    env,
    async start() {
      await new Promise<void>((resolve, reject) => {
        const child = spawn('rabbitmq-server', ['-detached'], { env, cwd: '/tmp', stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`rabbitmq-server exited ${code}`)),
        );
      });
      await waitFor(`AMQP on ${ports.amqp}`, () => portAnswers(ports.amqp), 90_000);
      await tool('rabbitmqctl', ['-q', 'await_startup', '--timeout', '90']);
    },
    ctl: (...args) => tool('rabbitmqctl', args),
    plugins: (...args) => tool('rabbitmq-plugins', args),
    async destroy() {
      await tool('rabbitmqctl', ['-q', 'shutdown']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends an MQTT 3.1.1 CONNECT (clean session, user/password) and resolves with
 * the CONNACK return code (0 = accepted); rejects when no CONNACK arrives.
 */
export async function mqttConnack(port: number, username: string, password: string): Promise<number> {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const variable = Buffer.concat([str('MQTT'), Buffer.from([4, 0b1100_0010, 0, 30])]);
  const payload = Buffer.concat([str(`ss-check-${process.pid}`), str(username), str(password)]);
  const body = Buffer.concat([variable, payload]);
  const packet = Buffer.concat([Buffer.from([0x10, body.length]), body]);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`no CONNACK from 127.0.0.1:${port} within 5 s`));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(packet));
    socket.once('data', (data) => {
      socket.destroy();
      if (data[0] !== 0x20 || data.length < 4) reject(new Error(`not a CONNACK: ${data.toString('hex')}`));
      else resolve(data[3] ?? -1);
    });
  });
}
