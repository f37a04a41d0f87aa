#!/usr/bin/env node
// `pnpm test:security`: attacks against the real broker and services. Every one
// must be refused and nothing may reach a table. Exit 0 only then.
// Last line: security: <n> attacks tried, <n> refused, <k> reached the database
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EXCHANGE, shardQueueName } from '@sensor-streaming/protocol';
import { createBus, PublishRefusedError } from '@sensor-streaming/bus';
import {
  ALARM_RPC_QUEUE,
  ALARM_RPC_READ_KEY,
  ControlError,
  createAlarmClient,
  createCommander,
  createRegistrarClient,
  createRegistryClient,
} from '@sensor-streaming/control';
import { connect } from 'amqplib';
import { pino } from 'pino';
import mqtt from 'mqtt';
import pg from 'pg';
import { createBrokerAdmin, type DeviceCredential } from '../broker-admin.js';
import { generateSecret, rabbitPasswordHash } from '../password-hash.js';
import { brokerDefinitions } from '../broker-definitions.js';
import { roleUser, type ServiceRole } from '../platform-definitions.js';
import { ATTACK_MARK, type AttackResult, floodUnprovisioned, runAttacks } from '../security/attacks.js';
import {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
} from '../security/throwaway-broker.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../..', import.meta.url));
const id = `sec${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const cleanups: Array<() => Promise<unknown>> = [];
const serviceOutput = new Map<string, string>();

function within<T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms).unref(),
    ),
  ]);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function withUser(url: string, user: string, pass: string, vhost?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(pass);
  if (vhost !== undefined) u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

function startService(name: string, env: Record<string, string>): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', `services/${name}/src/main.ts`],
    {
      cwd: REPO,
      env: { ...process.env, LOG_LEVEL: 'warn', METRICS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (d: Buffer): void => {
    serviceOutput.set(name, ((serviceOutput.get(name) ?? '') + d.toString('utf8')).slice(-4000));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  );
  return child;
}

/** Runs the real iotctl (its source entry point, as the services run theirs) as one broker user. */
function iotctl(
  amqpUrl: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'cli/iotctl/src/main.ts', ...args],
      {
        cwd: REPO,
        env: { ...process.env, AMQP_URL: amqpUrl, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** An iotctl run the user's role must not be allowed: refused when it exits non-zero with one clear line. */
async function iotctlRefused(amqpUrl: string, args: string[], expected: RegExp): Promise<[boolean, string]> {
  const r = await iotctl(amqpUrl, args);
  const lines = r.stderr.trim().split('\n');
  const line = lines[0] ?? '';
  if (r.code === 0) return [false, `exit 0: ${r.stdout.trim().split('\n')[0]}`];
  if (lines.length !== 1 || !expected.test(line))
    return [false, `exit ${r.code} but not one clear line: ${JSON.stringify(r.stderr.slice(0, 300))}`];
  return [true, `exit ${r.code}: ${line}`];
}

async function main(): Promise<number> {
  // 1. A broker configured as production should be (anonymous MQTT off), unless told to use the machine's.
  let broker: { amqpUrl: string; managementUrl: string; mqttUrl: string };
  if (process.env.SECURITY_BROKER !== 'shared' && canStartThrowawayBroker()) {
    say('starting a throwaway RabbitMQ node (MQTT plugin, mqtt.allow_anonymous = false) ...');
    const b: ThrowawayBroker = await startThrowawayBroker();
    cleanups.push(() => b.destroy());
    broker = b;
  } else {
    broker = {
      amqpUrl: process.env.RABBITMQ_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
      managementUrl: process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672',
      mqttUrl: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884',
    };
    say(
      `using the broker at ${new URL(broker.amqpUrl).host} (anonymous MQTT is refused only if its config says so)`,
    );
  }
  const mgmt = new URL(broker.managementUrl);
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(mgmt.username)}:${decodeURIComponent(mgmt.password)}`).toString('base64')}`;
  mgmt.username = '';
  mgmt.password = '';
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${mgmt.toString().replace(/\/$/, '')}/api${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok && res.status !== 404) throw new Error(`management ${method} ${path}: ${res.status} ${text}`);
    return res.ok && text !== '' ? JSON.parse(text) : undefined;
  };

  // 2. The platform's vhost: topology, MQTT forwarding, the MQTT session dead-letter policy.
  const vhost = id;
  const v = encodeURIComponent(vhost);
  const admin = new URL(broker.amqpUrl);
  const adminUser = decodeURIComponent(admin.username);
  await api('PUT', `/vhosts/${v}`, {});
  cleanups.push(() => api('DELETE', `/vhosts/${v}`));
  await api('PUT', `/permissions/${v}/${encodeURIComponent(adminUser)}`, {
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  // 3. A migrated database and the services that write every table a device can reach.
  const dbBase = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const dbUrl = new URL(dbBase);
  dbUrl.pathname = `/${id}`;
  say('migrating a fresh database ...');
  await run(process.execPath, ['--conditions=source', '--import', 'tsx', 'packages/db/src/bin/migrate.ts'], {
    cwd: REPO,
    env: { ...process.env, DATABASE_URL: dbUrl.toString(), LOG_LEVEL: 'warn' },
    timeout: 180_000,
  });
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: dbBase.toString() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${id}" WITH (FORCE)`);
    await c.end();
  });
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  cleanups.push(() => db.end());
  // The vhost comes whole from the definitions compose and K8s load (roles, exchanges, MQTT forwarding
  // both ways, the MQTT session dead-letter policy); each service runs as its own least-privilege user:
  // a service that needs more than its role grants fails to start, and the control below fails.
  const services = ['measurements-ingester', 'logs-ingester', 'sensor-registry', 'alarm-service'] as const;
  const secrets = new Map<ServiceRole, string>(
    [
      ...services,
      'operator' as const,
      'viewer' as const,
      'provisioner' as const,
      'sensor-simulator' as const,
    ].map((r) => [r, generateSecret()]),
  );
  // A second operator with the operator's broker permissions but not the alarm service's grants: the
  // alarm service (ALARM_RPC_GRANTS below, production-like: no guest) must refuse its ack.
  const OPERATOR = roleUser('operator');
  const NIGHT = 'op.nightshift';
  const nightSecret = generateSecret();
  const definitions = brokerDefinitions({
    vhost,
    passwordHashes: Object.fromEntries([...secrets].map(([r, s]) => [r, rabbitPasswordHash(s)])),
  }) as {
    users: Array<{ name: string }>;
    permissions: Array<{ user: string }>;
    topic_permissions: Array<{ user: string }>;
  };
  definitions.users.push({
    ...definitions.users.find((u) => u.name === OPERATOR)!,
    name: NIGHT,
    password_hash: rabbitPasswordHash(nightSecret),
  } as { name: string });
  definitions.permissions.push(
    ...definitions.permissions.filter((x) => x.user === OPERATOR).map((x) => ({ ...x, user: NIGHT })),
  );
  definitions.topic_permissions.push(
    ...definitions.topic_permissions.filter((x) => x.user === OPERATOR).map((x) => ({ ...x, user: NIGHT })),
  );
  await api('POST', '/definitions', definitions);
  cleanups.push(async () => {
    for (const r of secrets.keys()) await api('DELETE', `/users/${encodeURIComponent(roleUser(r))}`);
    await api('DELETE', `/users/${encodeURIComponent(NIGHT)}`);
  });
  // the alarm service with no rules (it must raise nothing and command nothing here) and production grants
  const rulesDir = mkdtempSync(path.join(tmpdir(), 'security-rules-'));
  cleanups.push(async () => rmSync(rulesDir, { recursive: true, force: true }));
  const rulesFile = path.join(rulesDir, 'rules.json');
  writeFileSync(rulesFile, JSON.stringify({ version: 1, rules: [] }));
  const GRANTS = `alarms.ack=${OPERATOR};alarms.shelve=${OPERATOR};alarms.maintenance=${OPERATOR}`;

  // the ingesters sharded as deployed (INGEST_SHARDS > 1): their roles must cover the hash exchange and shards
  const shards = 2;
  const consumedQueues = (svc: (typeof services)[number]): string[] =>
    svc.endsWith('-ingester')
      ? Array.from({ length: shards }, (_, i) => shardQueueName(svc, i))
      : [svc === 'alarm-service' ? ALARM_RPC_QUEUE : svc];
  for (const s of services)
    startService(s, {
      AMQP_URL: withUser(broker.amqpUrl, roleUser(s), secrets.get(s)!, vhost),
      DATABASE_URL: dbUrl.toString(),
      ...(s === 'alarm-service' ? { RULES_FILE: rulesFile, ALARM_RPC_GRANTS: GRANTS } : {}),
      ...(s.endsWith('-ingester') ? { INGEST_SHARDS: String(shards) } : {}),
      // production's setting: only provisioned serials are accepted
      REGISTRATION: 'closed',
    });
  say('waiting for the services to consume ...');
  await waitFor(
    'the ingesters, the registry and the alarm service consuming their queues',
    async () => {
      const qs = ((await api('GET', `/queues/${v}?columns=name,consumers`)) ?? []) as Array<{
        name: string;
        consumers?: number;
      }>;
      return services.every((s) =>
        consumedQueues(s).every((name) => qs.some((q) => q.name === name && (q.consumers ?? 0) > 0)),
      );
    },
    120_000,
  );

  // 4. Devices: A (attacker, MQTT), B (victim, AMQP command queue), C (revoked).
  const brokerAdmin = createBrokerAdmin({ managementUrl: broker.managementUrl, vhost });
  const [a, b, c] = (await brokerAdmin.provision([
    { serial: `${id}-a` },
    { serial: `${id}-b`, transport: 'amqp' },
    { serial: `${id}-c` },
  ])) as [DeviceCredential, DeviceCredential, DeviceCredential];
  cleanups.push(async () => {
    for (const d of [a, b, c]) await brokerAdmin.revoke(d.serial).catch(() => undefined);
  });
  await brokerAdmin.revoke(c.serial);

  const count = async (sql: string, params: unknown[] = []): Promise<number> =>
    Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
  const legit = (channel: string): Promise<number> =>
    count(
      'SELECT count(*) AS n FROM measurements m JOIN sensors s ON s.id = m.sensor_id WHERE s.serial = $1 AND m.channel = $2',
      [a.serial, channel],
    );
  const { measurementBatchCodec } = await import('@sensor-streaming/protocol');
  const batch = (channel: string): Buffer =>
    measurementBatchCodec.encode({
      serial: a.serial,
      channel,
      unit: 'g',
      sequence: 1,
      firstSampleTimeUs: Date.now() * 1000,
      samplePeriodNs: 1e9,
      values: [1, 2, 3],
    });

  // 4b. Closed registration: the provisioner role registers A with the registry (sensors.register). B is
  // never registered: nothing of it may reach a table.
  const provBus = createBus({
    url: withUser(broker.amqpUrl, roleUser('provisioner'), secrets.get('provisioner')!, vhost),
    connectionName: 'security-provisioner',
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => provBus.stop());
  await within(provBus.start(), 'the provisioner role connecting');
  const registrar = createRegistrarClient(provBus, { timeoutMs: 5000 });
  await waitFor('the registry registering A through its registrar RPC', () =>
    registrar.register([{ serial: a.serial, kind: 'vibration' }]).then(
      (r) => r.registered === 1,
      () => false,
    ),
  );
  say('allowed  the provisioner registers A with the registry (sensors.register)');

  // 5. The control: A's own data over MQTT reaches the table (the pipeline works, the permissions allow it).
  say('control: device A publishes its own data over MQTT ...');
  const device = await mqtt.connectAsync(broker.mqttUrl, {
    username: a.mqttUsername,
    password: a.secret,
    clientId: a.serial,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  await device.publishAsync(`sensor/${a.serial}/data`, batch('legit'), { qos: 1 });
  await device.endAsync();
  await waitFor(
    "A's own MQTT data in the measurements table",
    async () => (await legit('legit')) === 3,
    120_000,
  );

  // An open alarm on A for the ack attacks (and the operator's ack at the end).
  const episodeId = randomUUID();
  await db.query(
    `INSERT INTO alarm_episodes (alarm_id, sensor_id, rule, severity, message, raised_at)
     SELECT $1, id, 'security-probe', 'MAJOR', $2, now() FROM sensors WHERE serial = $3`,
    [episodeId, ATTACK_MARK, a.serial],
  );

  // 6. The attacks.
  const target = {
    amqpUrl: (user: string, pass: string) => withUser(broker.amqpUrl, user, pass, vhost),
    mqttUrl: broker.mqttUrl,
    mqttUser: (user: string) => `${vhost}:${user}`,
  };
  const results: AttackResult[] = await runAttacks(target, {
    a,
    b,
    revoked: c,
    viewer: { username: roleUser('viewer'), secret: secrets.get('viewer')! },
    unGranted: { username: NIGHT, secret: nightSecret },
    impersonated: OPERATOR,
  });
  // Through the real alarm service and the real iotctl: the service checks the broker-validated user.
  const viewerUrl = withUser(broker.amqpUrl, roleUser('viewer'), secrets.get('viewer')!, vhost);
  const nightUrl = withUser(broker.amqpUrl, NIGHT, nightSecret, vhost);
  const userBus = async (url: string, name: string) => {
    const bus = createBus({ url, connectionName: `security-${name}`, logger: pino({ level: 'silent' }) });
    cleanups.push(() => bus.stop());
    await within(bus.start(), `${name} connecting`);
    return bus;
  };
  const nightBus = await userBus(nightUrl, 'nightshift');
  const viewerRpcBus = await userBus(viewerUrl, 'viewer-rpc');
  const serviceAttacks: Array<[string, () => Promise<[boolean, string]>]> = [
    [
      `RPC: an operator without the ack grant (${NIGHT}) acknowledges an alarm, over the real alarm service`,
      async () => {
        const err = await createAlarmClient(nightBus)
          .ackAlarm(episodeId)
          .catch((e: unknown) => e);
        return err instanceof ControlError && err.code === 'ALARM_FORBIDDEN'
          ? [true, `${err.code}: ${err.message}`]
          : [false, `not refused: ${err instanceof Error ? err.message : JSON.stringify(err)}`];
      },
    ],
    [
      'RPC: a read-only operator sends alarms.ack on the read-only key it may publish',
      async () => {
        const reply = await viewerRpcBus.rpcCall(
          ALARM_RPC_READ_KEY,
          Buffer.from(JSON.stringify({ method: 'alarms.ack', params: { alarmId: episodeId } })),
          { timeoutMs: 10_000, contentType: 'application/json' },
        );
        const r = JSON.parse(reply.body.toString('utf8')) as {
          ok: boolean;
          error?: { code: string; message: string };
        };
        return !r.ok && r.error?.code === 'ALARM_FORBIDDEN'
          ? [true, `${r.error.code}: ${r.error.message}`]
          : [false, `not refused: ${JSON.stringify(r).slice(0, 200)}`];
      },
    ],
    [
      'bus: a read-only operator publishes a command (fails at once, not after the publish timeout)',
      async () => {
        const started = Date.now();
        const err = await viewerRpcBus
          .publish(`sensor.${b.serial}.commands.sleep`, Buffer.from('x'), { mandatory: true })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        const ms = Date.now() - started;
        return err instanceof PublishRefusedError && ms < 30_000
          ? [true, `PublishRefusedError after ${ms} ms: ${err.brokerMessage}`]
          : [false, `not refused in time (${ms} ms): ${err instanceof Error ? err.message : 'published'}`];
      },
    ],
    [
      'iotctl: a read-only operator acknowledges an alarm',
      () => iotctlRefused(viewerUrl, ['alarms', 'ack', episodeId], /^iotctl: .*refused.*op\.viewer/),
    ],
    [
      `iotctl: an operator without the ack grant (${NIGHT}) acknowledges an alarm`,
      () =>
        iotctlRefused(
          nightUrl,
          ['alarms', 'ack', episodeId],
          /^iotctl: user op\.nightshift lacks the permission alarms\.ack/,
        ),
    ],
    [
      `iotctl: an operator without the shelve grant (${NIGHT}) shelves an alarm`,
      () =>
        iotctlRefused(
          nightUrl,
          ['alarms', 'shelve', episodeId, '--for', '1h', '--reason', ATTACK_MARK],
          /^iotctl: user op\.nightshift lacks the permission alarms\.shelve/,
        ),
    ],
    [
      "AMQP: an ingester's credential puts a command straight into a sensor's command queue (default exchange)",
      async () => {
        const ingesterUrl = withUser(
          broker.amqpUrl,
          roleUser('measurements-ingester'),
          secrets.get('measurements-ingester')!,
          vhost,
        );
        const conn = await connect(ingesterUrl);
        try {
          const ch = await conn.createConfirmChannel();
          // the refusal closes the channel with 403: its 'error' event carries the broker's words
          const err = await new Promise<unknown>((resolve) => {
            ch.on('error', resolve);
            ch.publish('', `sensor.${b.serial}.commands`, Buffer.from(ATTACK_MARK), {}, (e) => {
              if (e === null || e === undefined) resolve(undefined);
            });
            setTimeout(() => resolve(new Error('no answer in 10 s')), 10_000).unref();
          });
          const text = err instanceof Error ? err.message : String(err ?? '');
          return /ACCESS_REFUSED|403/.test(text)
            ? [true, text.slice(0, 200)]
            : [false, `not refused: ${text || 'confirmed'}`];
        } finally {
          await conn.close().catch(() => undefined);
        }
      },
    ],
    [
      'iotctl: a read-only operator sends a command',
      () => iotctlRefused(viewerUrl, ['sleep', b.serial], /^iotctl: .*refused.*op\.viewer/),
    ],
  ];
  for (const [name, attempt] of serviceAttacks) {
    const [refused, how] = await attempt().catch((err: unknown): [boolean, string] => [
      false,
      `failed to run: ${err instanceof Error ? err.message : String(err)}`,
    ]);
    results.push({ name, refused, how });
  }

  // 6b. Closed registration: a credential the broker lets publish any serial (the development simulator's
  // role) floods serials nobody provisioned. The broker accepts them; the services must dead-letter them.
  const FLOOD = 100;
  const floodSerials = Array.from({ length: FLOOD }, (_, i) => `${id}-rogue-${i}`);
  const accepted = await floodUnprovisioned(
    withUser(broker.amqpUrl, roleUser('sensor-simulator'), secrets.get('sensor-simulator')!, vhost),
    floodSerials,
  );
  const deadReasons: string[] = [];
  {
    const dl = await connect(withUser(broker.amqpUrl, adminUser, decodeURIComponent(admin.password), vhost));
    try {
      const ch = await dl.createChannel();
      const deadline = Date.now() + 60_000;
      while (deadReasons.length < accepted && Date.now() < deadline) {
        const m = await ch.get('sensor_streaming.dead', { noAck: true });
        if (m === false) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        const reason = String(m.properties.headers?.['x-sensor-streaming-reason'] ?? '');
        if (reason.startsWith('UNPROVISIONED: unprovisioned serial ')) deadReasons.push(reason);
      }
    } finally {
      await dl.close().catch(() => undefined);
    }
  }
  results.push({
    name: `AMQP: a credential that may publish any serial floods ${FLOOD} unprovisioned serials (data, logs, state; REGISTRATION=closed)`,
    refused: accepted === FLOOD * 3 && deadReasons.length === accepted,
    how: `broker accepted ${accepted}, the services dead-lettered ${deadReasons.length} (${deadReasons[0] ?? 'none'})`,
  });
  for (const r of results) say(`${r.refused ? 'refused ' : 'ALLOWED '} ${r.name}: ${r.how}`);

  // 7. A sentinel after the attacks (AMQP this time): once it is stored, anything sent before had its chance.
  const sentinel = await connect(withUser(broker.amqpUrl, a.username, a.secret, vhost));
  const sch = await sentinel.createConfirmChannel();
  sch.publish(EXCHANGE, `sensor.${a.serial}.data`, batch('sentinel'));
  await sch.waitForConfirms();
  await sentinel.close();
  await waitFor(
    "A's sentinel in the measurements table",
    async () => (await legit('sentinel')) === 3,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 2000)); // the registry and logs ingester are other consumers

  const reached =
    (await count('SELECT count(*) AS n FROM measurements WHERE channel = $1', [ATTACK_MARK])) +
    (await count('SELECT count(*) AS n FROM sensor_logs WHERE message = $1', [ATTACK_MARK])) +
    (await count('SELECT count(*) AS n FROM sensors WHERE serial <> $1', [a.serial])) +
    (await count('SELECT count(*) AS n FROM sensor_state_changes WHERE firmware = $1', [ATTACK_MARK])) +
    (await count('SELECT count(*) AS n FROM commands')) +
    (await count('SELECT count(*) AS n FROM alarm_episodes WHERE acknowledged_by IS NOT NULL')) +
    (await count("SELECT count(*) AS n FROM alarms WHERE transition <> 'RAISED'")) +
    (await count('SELECT count(*) AS n FROM alarm_shelves')) +
    (await count('SELECT count(*) AS n FROM sensor_maintenance'));
  const refused = results.filter((r) => r.refused).length;

  // 8. The roles are not too tight: an operator can command (through packages/control), a viewer can list.
  // (After the database check: the operator's command is recorded, as it should be.)
  const roleBus = (role: ServiceRole) =>
    createBus({
      url: withUser(broker.amqpUrl, roleUser(role), secrets.get(role)!, vhost),
      connectionName: `security-${role}`,
      logger: pino({ level: 'silent' }),
    });
  const opBus = roleBus('operator');
  cleanups.push(() => opBus.stop());
  await within(opBus.start(), 'the operator role connecting');
  // B registered, so the registry records its commands (with the author the broker validated)
  await db.query("INSERT INTO sensors (serial, kind) VALUES ($1, 'security') ON CONFLICT DO NOTHING", [
    b.serial,
  ]);
  const commander = createCommander(opBus);
  const [issued] = await within(
    commander.issue([b.serial], { type: 'sleep' }, { issuedBy: 'a hint, not the author', timeoutMs: 1000 }),
    'the operator commanding',
  );
  await commander.close();
  if (issued?.status !== 'TIMED_OUT')
    throw new Error(
      `the operator role could not command (expected TIMED_OUT: published, B offline): ${issued?.status} ${issued?.reason}`,
    );
  let issuedBy: string | undefined;
  await waitFor(
    "the operator's command recorded by the registry",
    async () => {
      const { rows } = await db.query<{ issued_by: string }>('SELECT issued_by FROM commands WHERE id = $1', [
        issued.commandId,
      ]);
      issuedBy = rows[0]?.issued_by;
      return issuedBy !== undefined;
    },
    30_000,
  );
  if (issuedBy !== OPERATOR)
    throw new Error(`the command was recorded with issued_by ${issuedBy}, not ${OPERATOR}`);
  say(
    `allowed  the operator commands B through packages/control: ${issued.status} (B is offline), issued_by ${issuedBy}`,
  );
  const opUrl = withUser(broker.amqpUrl, OPERATOR, secrets.get('operator')!, vhost);
  const acked = await iotctl(opUrl, ['alarms', 'ack', episodeId]);
  const { rows: ackRows } = await db.query<{ acknowledged_by: string | null }>(
    'SELECT acknowledged_by FROM alarm_episodes WHERE alarm_id = $1',
    [episodeId],
  );
  if (acked.code !== 0 || ackRows[0]?.acknowledged_by !== OPERATOR)
    throw new Error(
      `the operator could not ack through iotctl (exit ${acked.code}: ${acked.stderr.trim()}), acknowledged_by ${ackRows[0]?.acknowledged_by}`,
    );
  say(`allowed  the operator acknowledges the alarm through iotctl: ${acked.stdout.trim()}`);
  const listedAlarms = await iotctl(viewerUrl, ['alarms', '--json']);
  if (listedAlarms.code !== 0 || !listedAlarms.stdout.includes(episodeId))
    throw new Error(`the viewer could not list alarms through iotctl: ${listedAlarms.stderr.trim()}`);
  say('allowed  the viewer lists alarms through iotctl (the read-only key)');
  const viewerBus = roleBus('viewer');
  cleanups.push(() => viewerBus.stop());
  await within(viewerBus.start(), 'the viewer role connecting');
  const listed = await within(createRegistryClient(viewerBus).listSensors(), 'the viewer listing sensors');
  if (!listed.some((x) => x.serial === a.serial))
    throw new Error(`the viewer role could not list sensors: ${JSON.stringify(listed)}`);
  say(`allowed  the viewer lists sensors through the registry RPC: ${listed.length} sensor(s)`);

  say(`security: ${results.length} attacks tried, ${refused} refused, ${reached} reached the database`);
  return refused === results.length && reached === 0 ? 0 : 1;
}

let code = 1;
// A hang anywhere (a bus retrying a refused login forever) must still clean up and fail.
const deadline = setTimeout(() => {
  process.stderr.write('security: gave up after 480 s\n');
  void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(1));
}, 480_000);
try {
  code = await main();
} catch (err) {
  for (const [name, out] of serviceOutput) process.stderr.write(`--- ${name} (last output)\n${out}\n`);
  process.stderr.write(
    `security: could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}
clearTimeout(deadline);
process.exit(code);
