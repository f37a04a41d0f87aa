import { execFile, spawn } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
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
  /** With `tls`: the AMQP and MQTT TLS listeners (guest in the URL, host 127.0.0.1). */
  amqpsUrl?: string;
  mqttsUrl?: string;
  /** The node's Erlang name (`rabbitmqctl -n <nodeName>`). */
  nodeName: string;
  /**
   * Runs a RabbitMQ CLI tool against this node (over Erlang distribution, not the management API:
   * it answers while a loaded node's HTTP API starves) and returns its stdout.
   */
  cli(
    tool: 'rabbitmqctl' | 'rabbitmq-diagnostics',
    args: readonly string[],
    timeoutMs?: number,
  ): Promise<string>;
  destroy(): Promise<void>;
}

export interface ThrowawayBrokerOptions {
  /**
   * TLS listeners for AMQP (`listeners.ssl`) and MQTT (`mqtt.listeners.ssl`) with this CA and server
   * certificate/key (PEM files, copied into the node's directory so the rabbitmq user can read them).
   * Client certificates are verified when presented (`verify_peer`, not required), and SASL EXTERNAL is
   * offered (rabbitmq_auth_mechanism_ssl: the certificate's CN is the user name).
   */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /**
   * A definitions file RabbitMQ loads at boot (copied to `<dir>/definitions.json`; point `load_definitions`
   * there in `extraConfig`). Loaded at boot, it keeps RabbitMQ from creating guest.
   */
  definitionsFile?: string;
  /**
   * More rabbitmq.conf settings, written to the node's conf.d (read after its main file, so they win):
   * e.g. another config file with its ports and paths moved onto this node's. `dir` holds `tls/caFile.pem`,
   * `tls/certFile.pem`, `tls/keyFile.pem` (with `tls`) and `definitions.json` (with `definitionsFile`).
   */
  extraConfig?: (dir: string, ports: ThrowawayPorts) => string;
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

export interface ThrowawayPorts {
  amqp: number;
  amqps: number;
  management: number;
  mqtt: number;
  mqtts: number;
  prometheus: number;
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

export async function startThrowawayBroker(opts: ThrowawayBrokerOptions = {}): Promise<ThrowawayBroker> {
  if (opts.nofile !== undefined && (!Number.isInteger(opts.nofile) || opts.nofile < 1024))
    throw new RangeError(`startThrowawayBroker: nofile must be an integer >= 1024, got ${opts.nofile}`);
  const [amqp, dist, management, mqtt, prometheus, amqps, mqtts] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const dir = mkdtempSync(path.join(tmpdir(), 'ss-security-rabbit-'));
  for (const d of ['mnesia', 'log', 'conf.d']) mkdirSync(path.join(dir, d));
  const owned = ['', 'mnesia', 'log', 'conf.d', 'rabbitmq.conf', 'enabled_plugins'];
  const tlsLines: string[] = [];
  if (opts.tls) {
    mkdirSync(path.join(dir, 'tls'));
    owned.push('tls');
    for (const [k, src] of Object.entries(opts.tls)) {
      copyFileSync(src, path.join(dir, 'tls', `${k}.pem`));
      owned.push(path.join('tls', `${k}.pem`));
    }
    tlsLines.push(
      `listeners.ssl.default = 127.0.0.1:${amqps}`,
      `mqtt.listeners.ssl.default = 127.0.0.1:${mqtts}`,
      `ssl_options.cacertfile = ${path.join(dir, 'tls', 'caFile.pem')}`,
      `ssl_options.certfile = ${path.join(dir, 'tls', 'certFile.pem')}`,
      `ssl_options.keyfile = ${path.join(dir, 'tls', 'keyFile.pem')}`,
      'ssl_options.verify = verify_peer',
      'ssl_options.fail_if_no_peer_cert = false',
      'ssl_options.versions.1 = tlsv1.3',
      'ssl_options.versions.2 = tlsv1.2',
      'auth_mechanisms.1 = PLAIN',
      'auth_mechanisms.2 = AMQPLAIN',
      'auth_mechanisms.3 = EXTERNAL',
      'ssl_cert_login_from = common_name',
    );
  }
  writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${amqp}`,
      `management.tcp.port = ${management}`,
      `management.tcp.ip = 127.0.0.1`,
      `prometheus.tcp.port = ${prometheus}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqtt}`,
      'mqtt.allow_anonymous = false',
      ...tlsLines,
      ...(opts.statisticsIntervalMs === undefined
        ? []
        : [`collect_statistics_interval = ${opts.statisticsIntervalMs}`]),
      '',
    ].join('\n'),
  );
  if (opts.definitionsFile) {
    copyFileSync(opts.definitionsFile, path.join(dir, 'definitions.json'));
    owned.push('definitions.json');
  }
  if (opts.extraConfig) {
    writeFileSync(
      path.join(dir, 'conf.d', '90-extra.conf'),
      opts.extraConfig(dir, { amqp, amqps, management, mqtt, mqtts, prometheus }),
    );
    owned.push(path.join('conf.d', '90-extra.conf'));
  }
  writeFileSync(
    path.join(dir, 'enabled_plugins'),
    opts.tls
      ? '[rabbitmq_management,rabbitmq_mqtt,rabbitmq_consistent_hash_exchange,rabbitmq_auth_mechanism_ssl].\n'
      : '[rabbitmq_management,rabbitmq_mqtt,rabbitmq_consistent_hash_exchange].\n',
  );
  const uid = Number((await run('id', ['-u', 'rabbitmq'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'rabbitmq'])).stdout.trim());
  for (const p of owned) chownSync(path.join(dir, p), uid, gid);
  const nodeName = `sssec${process.pid}x${amqp}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RABBITMQ_NODENAME: nodeName,
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
    while (
      !(await answers(management)) ||
      !(await answers(mqtt)) ||
      (opts.tls !== undefined && (!(await answers(amqps)) || !(await answers(mqtts))))
    ) {
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
    ...(opts.tls
      ? { amqpsUrl: `amqps://guest:guest@127.0.0.1:${amqps}`, mqttsUrl: `mqtts://127.0.0.1:${mqtts}` }
      : {}),
    nodeName,
    cli: async (tool, args, timeoutMs = 120_000) =>
      (
        await run(tool, ['-q', '-n', nodeName, ...args], {
          env,
          cwd: '/tmp',
          timeout: timeoutMs,
          maxBuffer: 256 * 1024 * 1024,
        })
      ).stdout,
    destroy,
  };
}
