import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, managementRequest, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createCommander, MQTT_SESSION_POLICY } from '@sensor-streaming/control';
import { type BrokerAdmin, createBrokerAdmin } from '@sensor-streaming/identity';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createSimulator, type Simulator } from './simulator.js';

/* Simulated MQTT devices with their own provisioned credentials (MQTT_CREDENTIALS_FILE), confined to their topics. */

const logger = createLogger({
  service: 'sensor-simulator-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884';
const MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
const id = `pd${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const SERIALS = [`${id}-0`, `${id}-1`, `${id}-2`];

let vhost: TestVhost;
let admin: BrokerAdmin;
let bus: Bus;
let sim: Simulator | undefined;
let dir: string;

beforeAll(async () => {
  vhost = await createTestVhost('sim-provisioned');
  const { name, ...policy } = MQTT_SESSION_POLICY;
  await managementRequest('PUT', `/policies/${encodeURIComponent(vhost.vhost)}/${name}`, policy);
  admin = createBrokerAdmin({ managementUrl: MANAGEMENT_URL, vhost: vhost.vhost });
  bus = createBus({ url: vhost.url, connectionName: `sim-provisioned-${randomUUID()}`, logger });
  await bus.start();
  dir = mkdtempSync(path.join(tmpdir(), 'sim-provisioned-'));
});

afterAll(async () => {
  await sim?.stop();
  await bus?.stop();
  for (const s of SERIALS) await admin?.revoke(s).catch(() => undefined);
  await vhost?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('simulated MQTT devices with provisioned credentials', () => {
  it('connect each with its own secret and obey commands through the one command path', async () => {
    const creds = await admin.provision(SERIALS.map((serial) => ({ serial })));
    const file = path.join(dir, 'secrets.csv');
    writeFileSync(
      file,
      `serial,username,password\n${creds.map((c) => `${c.serial},${c.mqttUsername},${c.secret}`).join('\n')}\n`,
      { mode: 0o600 },
    );
    const config = loadConfig({
      AMQP_URL: vhost.url,
      MQTT_URL,
      TRANSPORT: 'mqtt',
      SENSOR_SERIALS: SERIALS.join(','),
      SENSOR_KINDS: 'environment:1',
      MQTT_CREDENTIALS_FILE: file,
      FLUSH_INTERVAL_MS: '200',
      METRICS_PORT: '0',
    });
    sim = createSimulator({ config, logger, registry: new Registry() });
    await sim.start();
    const commander = createCommander(bus);
    try {
      const outcomes = await commander.issue(
        SERIALS,
        { type: 'sleep' },
        { issuedBy: 'test', timeoutMs: 15_000 },
      );
      for (const o of outcomes) expect(o, o.serial).toMatchObject({ status: 'APPLIED', state: 'ASLEEP' });
    } finally {
      await commander.close();
    }
    // Each device connected as itself (the management API lists connections a few seconds late).
    await waitFor(
      async () => {
        const conns = (await managementRequest(
          'GET',
          `/vhosts/${encodeURIComponent(vhost.vhost)}/connections`,
        )) as Array<{ user: string; protocol: string }>;
        return SERIALS.every((s) => conns.some((c) => c.user === s && /MQTT/i.test(c.protocol)));
      },
      'one MQTT connection per device user',
      20_000,
    );
  }, 60_000);

  it('refuses to start when a device has no credential in the file', async () => {
    const file = path.join(dir, 'partial.csv');
    writeFileSync(file, `serial,username,password\n${SERIALS[0]},x,y\n`);
    const config = loadConfig({
      AMQP_URL: vhost.url,
      MQTT_URL,
      TRANSPORT: 'mqtt',
      SENSOR_SERIALS: SERIALS.join(','),
      MQTT_CREDENTIALS_FILE: file,
      METRICS_PORT: '0',
    });
    const other = createSimulator({ config, logger, registry: new Registry() });
    await expect(other.start()).rejects.toThrow(/no credential for 2 MQTT sensor/);
    await other.stop();
  }, 30_000);
});
