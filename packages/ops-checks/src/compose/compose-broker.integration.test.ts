import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Bus, createBus, describeConnectError } from '@sensor-streaming/bus';
import { queueMessageCount } from '@sensor-streaming/bus/testing';
import { ingestQueueSpecs } from '@sensor-streaming/identity';
import {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
} from '@sensor-streaming/identity/testing';
import { loadCommonConfig, type TlsFiles } from '@sensor-streaming/runtime';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../repo-root.js';
import { bindMounts, loadCompose } from './compose-file.js';

/*
 * compose's broker as compose.yaml configures it (its rabbitmq.conf and definitions.json, with the ports and
 * paths moved onto a throwaway RabbitMQ 3.10 node; compose runs 3.13) and a CA from scripts/dev-certs.sh,
 * the script compose's `certs` service runs: every compose service's AMQP_URL (and the simulator's MQTT_URL)
 * connects over TLS as its own user and declares what the bus declares; guest and anonymous MQTT are refused.
 */

const run = promisify(execFile);
const root = repoRoot();
const doc = loadCompose(root);
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const mount = (target: string) =>
  path.join(root, bindMounts(doc).find((m) => m.service === 'rabbitmq' && m.target === target)!.source);

let dir: string;
let broker: ThrowawayBroker;
let caFile: string;

/** The URL with compose's host and port replaced by the throwaway node's. */
const onNode = (url: string, nodeUrl: string): string => {
  const u = new URL(url);
  const n = new URL(nodeUrl);
  u.host = n.host;
  return u.toString();
};

async function connectOutcome(url: string, tls: TlsFiles | undefined): Promise<string> {
  let failure: string | undefined;
  const bus = createBus({
    url,
    tls,
    connectionName: `compose-broker-${randomUUID()}`,
    logger,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    onConnectError: (err) => {
      failure ??= describeConnectError(err, url).code;
    },
  });
  const started = bus.start().then(() => 'connected');
  const failed = new Promise<string>((resolve) => {
    const t = setInterval(() => {
      if (failure !== undefined) {
        clearInterval(t);
        resolve(failure);
      }
    }, 50);
  });
  const outcome = await Promise.race([started, failed]);
  await bus.stop().catch(() => undefined);
  return outcome;
}

function mqttOutcome(url: string, opts: mqtt.IClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const done = (o: string) => {
      client.end(true);
      resolve(o);
    };
    client.once('connect', () => done('connected'));
    client.once('error', (err: Error & { code?: unknown }) =>
      done(`refused ${String(err.code ?? err.message)}`),
    );
    client.once('close', () => done('closed'));
  });
}

describe.skipIf(!canStartThrowawayBroker())("compose's broker configuration on a real RabbitMQ", () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'compose-broker-'));
    await run('sh', [path.join(root, 'scripts/dev-certs.sh'), path.join(dir, 'certs'), 'DNS:rabbitmq']);
    caFile = path.join(dir, 'certs', 'ca.pem');
    const conf = readFileSync(mount('/etc/rabbitmq/conf.d/20-sensor-streaming.conf'), 'utf8');
    broker = await startThrowawayBroker({
      tls: {
        caFile,
        certFile: path.join(dir, 'certs', 'server.pem'),
        keyFile: path.join(dir, 'certs', 'server.key'),
      },
      definitionsFile: mount('/etc/rabbitmq/definitions.json'),
      extraConfig: (nodeDir, ports) =>
        conf
          .replace('/etc/rabbitmq/definitions.json', path.join(nodeDir, 'definitions.json'))
          .replace('/etc/rabbitmq/tls/ca.pem', path.join(nodeDir, 'tls', 'caFile.pem'))
          .replace('/etc/rabbitmq/tls/server.pem', path.join(nodeDir, 'tls', 'certFile.pem'))
          .replace('/etc/rabbitmq/tls/server.key', path.join(nodeDir, 'tls', 'keyFile.pem'))
          .replace(/^listeners\.ssl\.default = 5671$/m, `listeners.ssl.default = 127.0.0.1:${ports.amqps}`)
          .replace(
            /^mqtt\.listeners\.ssl\.default = 8883$/m,
            `mqtt.listeners.ssl.default = 127.0.0.1:${ports.mqtts}`,
          )
          .replace(
            /^mqtt\.listeners\.tcp\.default = 1883$/m,
            `mqtt.listeners.tcp.default = 127.0.0.1:${ports.mqtt}`,
          )
          .replace(/^prometheus\.tcp\.port = 15692$/m, `prometheus.tcp.port = ${ports.prometheus}`),
    });
  }, 180_000);

  afterAll(async () => {
    await broker?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const clients = Object.entries(doc.services).filter(([, s]) => s.environment?.AMQP_URL !== undefined);

  it('lets every compose service in over TLS as its own user, through its own config', async () => {
    expect(clients.map(([name]) => name).sort()).toEqual([
      'alarm-service',
      'iotctl',
      'logs-ingester',
      'measurements-ingester',
      'sensor-registry',
      'sensor-simulator',
    ]);
    for (const [name, s] of clients) {
      const env = Object.fromEntries(Object.entries(s.environment!).map(([k, v]) => [k, String(v)]));
      // the service's own config, with compose's broker address moved to the node and the CA where it is here
      const config = loadCommonConfig({
        ...env,
        AMQP_URL: onNode(env.AMQP_URL!, broker.amqpsUrl!),
        ...(env.MQTT_URL ? { MQTT_URL: onNode(env.MQTT_URL, broker.mqttsUrl!) } : {}),
        TLS_CA_FILE: caFile,
        METRICS_PORT: '0',
      });
      expect(await connectOutcome(config.amqpUrl, config.tls), name).toBe('connected');
      if (env.MQTT_URL) {
        const u = new URL(config.mqttUrl);
        expect(
          await mqttOutcome(`mqtts://${u.host}`, {
            username: decodeURIComponent(u.username),
            password: decodeURIComponent(u.password),
            clientId: `compose-${name}-${randomUUID().slice(0, 8)}`,
            ca: readFileSync(caFile),
          }),
          `${name} MQTT`,
        ).toBe('connected');
      }
    }
  }, 120_000);

  it("holds the ingesters' data queues from boot: data before any ingester is queued, and their declares are accepted", async () => {
    const shards = Number(doc.services['measurements-ingester']!.environment!.INGEST_SHARDS);
    const specs = ingestQueueSpecs(shards);
    // the administrator (compose's admin/admin) over the node's plain port: ready counts by passive declare
    const admin = new URL(broker.amqpUrl);
    admin.username = 'admin';
    admin.password = 'admin';
    admin.pathname = '/%2F';
    const ready = async () => {
      const counts = await Promise.all(specs.map((q) => queueMessageCount(admin.toString(), q.name)));
      return counts.reduce((a, b) => a + b, 0);
    };
    expect(await ready()).toBe(0);
    const busOf = async (service: string): Promise<Bus> => {
      const env = doc.services[service]!.environment!;
      const config = loadCommonConfig({
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
        AMQP_URL: onNode(String(env.AMQP_URL), broker.amqpsUrl!),
        TLS_CA_FILE: caFile,
        METRICS_PORT: '0',
      });
      const bus = createBus({
        url: config.amqpUrl,
        tls: config.tls,
        connectionName: `compose-${service}`,
        logger,
      });
      await bus.start();
      return bus;
    };
    // a sensor publishes (mandatory: unroutable would reject) before any ingester exists
    const sensor = await busOf('sensor-simulator');
    try {
      for (let i = 0; i < 20; i++) {
        await sensor.publish(`sensor.boot-${i}.data`, Buffer.from('x'));
        await sensor.publish(`sensor.boot-${i}.logs`, Buffer.from('x'));
      }
    } finally {
      await sensor.stop();
    }
    expect(await ready()).toBe(40);
    // each ingester, as its own user, declares its queues as it does on start: equivalent to the definitions'
    for (const service of ['measurements-ingester', 'logs-ingester']) {
      const bus = await busOf(service);
      try {
        for (const q of specs.filter((s) => s.name === service || s.name.startsWith(`${service}.`)))
          await bus.declareQueue(q);
      } finally {
        await bus.stop();
      }
    }
    expect(await ready()).toBe(40);
  }, 60_000);

  it('has no guest, refuses anonymous MQTT and a client that does not trust the dev CA', async () => {
    expect(await connectOutcome(onNode('amqps://guest:guest@x', broker.amqpsUrl!), { caFile })).toBe(
      'BUS_ACCESS_REFUSED',
    );
    expect(await connectOutcome(broker.amqpUrl, undefined)).toBe('BUS_ACCESS_REFUSED'); // guest, plain port
    expect(
      await mqttOutcome(broker.mqttsUrl!, {
        clientId: `anon-${randomUUID().slice(0, 8)}`,
        ca: readFileSync(caFile),
      }),
    ).toMatch(/^refused [45]$/); // CONNACK: bad user name or password / not authorized
    const [, registry] = clients.find(([n]) => n === 'sensor-registry')!;
    const url = onNode(String(registry.environment!.AMQP_URL), broker.amqpsUrl!);
    expect(await connectOutcome(url, undefined)).toBe('BUS_TLS_UNTRUSTED');
  }, 60_000);
});
