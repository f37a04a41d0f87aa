import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { REGISTRAR_RPC_QUEUE } from '@sensor-streaming/control';
import { createBrokerAdmin } from '@sensor-streaming/identity';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChildService,
  createMigratedDatabase,
  startService,
  type TestDatabase,
} from './testing/child-service.js';
import { runIotctl } from './testing/run-iotctl.js';

const MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884';
const id = `p${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
let vhost: TestVhost;
let db: TestDatabase;
let registry: ChildService | undefined;
let dir: string;

/** One row of the sensors table, read with psql (iotctl has no database client of its own). */
function sensorRow(serial: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'psql',
      [
        db.url,
        '-Atc',
        `SELECT kind, labels::text, provisioned_at IS NOT NULL, revoked_at IS NOT NULL FROM sensors WHERE serial = '${serial}'`,
      ],
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    ),
  );
}
/** The registration events of a serial, `event|by`, oldest first. */
function registrationEvents(serial: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'psql',
      [
        db.url,
        '-Atc',
        `SELECT event || '|' || by FROM sensor_registration_events WHERE serial = '${serial}' ORDER BY id`,
      ],
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    ),
  );
}
const serials = [`${id}-one`, `${id}-f0`, `${id}-f1`, `${id}-f2`];

async function mqttConnects(username: string, password: string, clientId: string): Promise<boolean> {
  const c = mqtt.connect(MQTT_URL, { username, password, clientId, protocolVersion: 4, reconnectPeriod: 0 });
  c.on('error', () => undefined);
  const ok = await new Promise<boolean>((resolve) => {
    c.once('connect', () => resolve(true));
    c.once('close', () => resolve(false));
  });
  await c.endAsync(true).catch(() => undefined);
  return ok;
}

beforeAll(async () => {
  vhost = await createTestVhost('iotctl-provision');
  dir = mkdtempSync(path.join(tmpdir(), 'iotctl-provision-'));
  db = await createMigratedDatabase('iotctl_provision');
  // the real registry, closed registration, so provision and revoke are told to it
  const reg = startService('sensor-registry', 'services/sensor-registry/src/main.ts', {
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    REGISTRATION: 'closed',
  });
  registry = reg;
  await waitFor(
    () =>
      queueMessageCount(vhost.url, REGISTRAR_RPC_QUEUE).then(
        () => true,
        () => false,
      ),
    `the registrar queue (registry output: ${reg.output().slice(-2000)})`,
    120_000,
  );
}, 300_000);

afterAll(async () => {
  await registry?.stop();
  await db?.drop();
  const admin = createBrokerAdmin({ managementUrl: MANAGEMENT_URL, vhost: vhost.vhost });
  for (const s of serials) await admin.revoke(s).catch(() => undefined);
  await vhost?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL, AMQP_URL: `amqp://127.0.0.1/${vhost.vhost}` });

describe('iotctl sensors provision / rotate / revoke', () => {
  it('provisions one device (JSON), rotates its secret, revokes it', async () => {
    const serial = serials[0]!;
    const badKind = await runIotctl(['sensors', 'provision', serial, '--kind', 'toaster'], { env: env() });
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(
      /--kind: kind must be one of vibration, environment, process, got "toaster"/,
    );
    const badLabel = await runIotctl(['sensors', 'provision', serial, '--label', 'site=a b'], { env: env() });
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(/--label\.site: label value must be/);
    expect(await sensorRow(serial)).toBe('');

    const p = await runIotctl(
      ['sensors', 'provision', serial, '--kind', 'vibration', '--label', 'site=north', '--json'],
      { env: env() },
    );
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(await sensorRow(serial)).toBe('vibration|{"site": "north"}|t|f');
    const cred = JSON.parse(p.stdout) as { mqttUsername: string; secret: string };
    expect(cred.mqttUsername).toBe(`${vhost.vhost}:${serial}`);
    expect(await mqttConnects(cred.mqttUsername, cred.secret, serial)).toBe(true);

    const again = await runIotctl(['sensors', 'provision', serial], { env: env() });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already provisioned.*rotate/);

    const r = await runIotctl(['sensors', 'rotate', serial], { env: env() });
    expect(r.code).toBe(0);
    const secret = /secret:\s+(\S+)/.exec(r.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(await mqttConnects(cred.mqttUsername, cred.secret, serial)).toBe(false);
    expect(await mqttConnects(cred.mqttUsername, secret!, serial)).toBe(true);

    const v = await runIotctl(['sensors', 'revoke', serial, '--json'], { env: env() });
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toEqual({ serial, revoked: true, registryRevoked: true });
    // revoked, not deleted: the row (and its data) stays
    expect(await sensorRow(serial)).toBe('vibration|{"site": "north"}|t|t');
    // who did it: the broker user iotctl connected as (AMQP_URL has no credentials: guest), from the
    // request's broker-validated user_id
    const events = (await registrationEvents(serial)).split('\n');
    expect(events[0]).toBe('PROVISIONED|guest');
    expect(events.at(-1)).toBe('REVOKED|guest');
    expect(events.every((e) => e.endsWith('|guest'))).toBe(true);
    expect(await mqttConnects(cred.mqttUsername, secret!, serial)).toBe(false);
  }, 60_000);

  it('--from devices.csv: progress, secrets in a 0600 file the simulator can read; bad input exits 2', async () => {
    const csv = path.join(dir, 'devices.csv');
    writeFileSync(
      csv,
      `serial,site,kind,labels\n${serials
        .slice(1)
        .map((s) => `${s},north,process,site=north;line=l2`)
        .join('\n')}\n`,
    );
    const out = path.join(dir, 'secrets.csv');
    const p = await runIotctl(['sensors', 'provision', '--from', csv, '--secrets-out', out], { env: env() });
    expect(p.code).toBe(0);
    expect(p.stderr).toContain('registered 3/3');
    expect(p.stderr).toContain('provisioned 3/3');
    expect(await sensorRow(serials[3]!)).toBe('process|{"line": "l2", "site": "north"}|t|f');
    expect(p.stdout).toMatch(/provisioned 3 devices/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('serial,username,password');
    const [serial, username, password] = lines[1]!.split(',');
    expect(await mqttConnects(username!, password!, serial!)).toBe(true);

    const exists = await runIotctl(['sensors', 'provision', '--from', csv, '--secrets-out', out], {
      env: env(),
    });
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/cannot create .*secrets\.csv/);

    const bad = path.join(dir, 'bad.csv');
    writeFileSync(bad, 'serial\nok-1\nno.dots\n');
    const b = await runIotctl(
      ['sensors', 'provision', '--from', bad, '--secrets-out', path.join(dir, 'x.csv')],
      {
        env: env(),
      },
    );
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/line 3: invalid serial "no\.dots"/);

    writeFileSync(bad, 'serial,kind\nok-1,toaster\n');
    const k = await runIotctl(
      ['sensors', 'provision', '--from', bad, '--secrets-out', path.join(dir, 'y.csv')],
      { env: env() },
    );
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/bad\.csv: line 2: kind: kind must be one of/);
  }, 60_000);
});
