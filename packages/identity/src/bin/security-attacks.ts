#!/usr/bin/env node
// `pnpm test:security`: attacks against the real broker and services. Every one
// must be refused and nothing may reach a table. Exit 0 only then.
// Last line: security: <n> attacks tried, <n> refused, <k> reached the database
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EXCHANGE } from '@sensor-streaming/protocol';
import { createBus } from '@sensor-streaming/bus';
import { createCommander, createRegistrarClient, createRegistryClient } from '@sensor-streaming/control';
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
  const services = ['measurements-ingester', 'logs-ingester', 'sensor-registry'] as const;
  const secrets = new Map<ServiceRole, string>(
    [
      ...services,
      'operator' as const,
      'viewer' as const,
      'provisioner' as const,
      'sensor-simulator' as const,
    ].map((r) => [r, generateSecret()]),
  );
  await api(
    'POST',
    '/definitions',
    brokerDefinitions({
      vhost,
      passwordHashes: Object.fromEntries([...secrets].map(([r, s]) => [r, rabbitPasswordHash(s)])),
    }),
  );
  cleanups.push(async () => {
    for (const r of secrets.keys()) await api('DELETE', `/users/${encodeURIComponent(roleUser(r))}`);
  });
  for (const s of services)
    startService(s, {
      AMQP_URL: withUser(broker.amqpUrl, roleUser(s), secrets.get(s)!, vhost),
      DATABASE_URL: dbUrl.toString(),
      // production's setting: only provisioned serials are accepted
      REGISTRATION: 'closed',
    });
  say('waiting for the services to consume ...');
  await waitFor(
    'the ingesters and the registry consuming their queues',
    async () => {
      const qs = ((await api('GET', `/queues/${v}?columns=name,consumers`)) ?? []) as Array<{
        name: string;
        consumers?: number;
      }>;
      return services.every((s) => qs.some((q) => q.name === s && (q.consumers ?? 0) > 0));
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
  });

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
    (await count('SELECT count(*) AS n FROM commands'));
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
  const commander = createCommander(opBus);
  const [issued] = await within(
    commander.issue([b.serial], { type: 'sleep' }, { issuedBy: 'op.operator', timeoutMs: 1000 }),
    'the operator commanding',
  );
  await commander.close();
  if (issued?.status !== 'TIMED_OUT')
    throw new Error(
      `the operator role could not command (expected TIMED_OUT: published, B offline): ${issued?.status} ${issued?.reason}`,
    );
  say(`allowed  the operator commands B through packages/control: ${issued.status} (B is offline)`);
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
  process.stderr.write('security: gave up after 300 s\n');
  void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(1));
}, 300_000);
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
