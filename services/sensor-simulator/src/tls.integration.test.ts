import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { waitFor } from '@sensor-streaming/bus/testing';
import { createCommander } from '@sensor-streaming/control';
import {
  type BrokerAdmin,
  brokerDefinitions,
  createBrokerAdmin,
  generateSecret,
  rabbitPasswordHash,
  roleUser,
} from '@sensor-streaming/identity';
import {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
} from '@sensor-streaming/identity/testing';
import { createLogger, loadCommonConfig } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { mqttSerials } from './mqtt-credentials.js';
import { createSimulator, type Simulator } from './simulator.js';

/*
 * The simulator as compose runs it: its own role (svc.sensor-simulator) over amqps://, its MQTT devices
 * over mqtts:// with their provisioned credentials, TLS_CA_FILE for both; commands from op.operator over
 * amqps reach the AMQP and the MQTT devices. A throwaway RabbitMQ 3.10 node with the platform definitions
 * and TLS listeners, a CA made by scripts/dev-certs.sh.
 */

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const logger = createLogger({
  service: 'sensor-simulator-tls-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
const id = `st${randomUUID().slice(0, 8)}`;
const SERIALS = [0, 1, 2, 3].map((i) => `${id}-${i}`);
// which of them the simulator runs as MQTT devices with MQTT_SHARE=0.5
const MQTT_SERIALS = [...mqttSerials(SERIALS, 0.5)].sort();

let dir: string;
let broker: ThrowawayBroker;
let admin: BrokerAdmin;
let operator: Bus | undefined;
let sim: Simulator | undefined;
const secrets = { 'sensor-simulator': generateSecret(), operator: generateSecret() };

const asUser = (url: string, user: string, password: string): string => {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
};

describe.skipIf(!canStartThrowawayBroker())('the simulator over TLS as its own broker user', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sim-tls-'));
    await run('sh', [path.join(REPO, 'scripts/dev-certs.sh'), path.join(dir, 'certs')]);
    const f = (n: string) => path.join(dir, 'certs', n);
    broker = await startThrowawayBroker({
      tls: { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') },
    });
    const mgmt = new URL(broker.managementUrl);
    const res = await fetch(`http://${mgmt.host}/api/definitions`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${mgmt.username}:${mgmt.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(
        brokerDefinitions({
          vhost: '/',
          passwordHashes: {
            'sensor-simulator': rabbitPasswordHash(secrets['sensor-simulator']),
            operator: rabbitPasswordHash(secrets.operator),
          },
        }),
      ),
    });
    expect(res.status, await res.text()).toBeLessThan(300);
    admin = createBrokerAdmin({ managementUrl: broker.managementUrl, vhost: '/' });
  }, 180_000);

  afterAll(async () => {
    await sim?.stop();
    await operator?.stop();
    await broker?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('connects as its own user and its devices obey commands over AMQP and MQTT, all over TLS', async () => {
    expect(MQTT_SERIALS.length).toBeGreaterThan(0);
    expect(MQTT_SERIALS.length).toBeLessThan(SERIALS.length);
    const creds = await admin.provision(MQTT_SERIALS.map((serial) => ({ serial })));
    const file = path.join(dir, 'secrets.csv');
    writeFileSync(
      file,
      `serial,username,password\n${creds.map((c) => `${c.serial},${c.mqttUsername},${c.secret}`).join('\n')}\n`,
      { mode: 0o600 },
    );
    const caFile = path.join(dir, 'certs', 'ca.pem');
    const config = loadConfig({
      AMQP_URL: asUser(broker.amqpsUrl!, roleUser('sensor-simulator'), secrets['sensor-simulator']),
      MQTT_URL: broker.mqttsUrl!,
      TLS_CA_FILE: caFile,
      MQTT_SHARE: '0.5',
      MQTT_CREDENTIALS_FILE: file,
      SENSOR_SERIALS: SERIALS.join(','),
      SENSOR_KINDS: 'environment:1',
      FLUSH_INTERVAL_MS: '200',
      METRICS_PORT: '0',
    });
    expect(config.tls).toEqual({ caFile });
    sim = createSimulator({ config, logger, registry: new Registry() });
    await sim.start();

    // the operator's CLI path: its own role over amqps
    const op = loadCommonConfig(
      {
        AMQP_URL: asUser(broker.amqpsUrl!, roleUser('operator'), secrets.operator),
        TLS_CA_FILE: caFile,
      },
      'iotctl-test',
    );
    operator = createBus({ url: op.amqpUrl, tls: op.tls, connectionName: `op-${id}`, logger });
    await operator.start();
    const commander = createCommander(operator);
    try {
      const outcomes = await commander.issue(
        SERIALS,
        { type: 'sleep' },
        { issuedBy: 'test', timeoutMs: 20_000 },
      );
      for (const o of outcomes) expect(o, o.serial).toMatchObject({ status: 'APPLIED', state: 'ASLEEP' });
    } finally {
      await commander.close();
    }

    // every connection of the run is TLS, and the simulator's are its own user's
    type Conn = { user: string; ssl: boolean; protocol: string };
    let conns: Conn[] = [];
    const mgmt = new URL(broker.managementUrl);
    await waitFor(
      async () => {
        const res = await fetch(`http://${mgmt.host}/api/connections`, {
          headers: {
            authorization: `Basic ${Buffer.from(`${mgmt.username}:${mgmt.password}`).toString('base64')}`,
          },
        });
        conns = (await res.json()) as Conn[];
        return (
          MQTT_SERIALS.every((s) => conns.some((c) => c.user === s)) &&
          conns.some((c) => c.user === roleUser('sensor-simulator'))
        );
      },
      'the simulator and device connections in the management API',
      20_000,
    );
    expect(conns.filter((c) => !c.ssl)).toEqual([]);
    expect(
      conns
        .filter((c) => /MQTT/.test(c.protocol))
        .map((c) => c.user)
        .sort(),
    ).toEqual(MQTT_SERIALS);
  }, 120_000);
});
