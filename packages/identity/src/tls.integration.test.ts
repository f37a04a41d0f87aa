import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Bus, createBus, describeConnectError } from '@sensor-streaming/bus';
import { waitFor } from '@sensor-streaming/bus/testing';
import { bindingPatterns, type MeasurementBatch, measurementBatchCodec } from '@sensor-streaming/protocol';
import { loadCommonConfig, type TlsFiles } from '@sensor-streaming/runtime';
import { connect as amqpConnect } from 'amqplib';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerAdmin, createBrokerAdmin, type DeviceCredential } from './broker-admin.js';
import {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
} from './security/throwaway-broker.js';

/*
 * TLS for AMQP and MQTT against a RabbitMQ node of our own (never the shared one), with a CA this test
 * makes with scripts/dev-certs.sh (the script compose runs): listeners.ssl + mqtt.listeners.ssl.
 */

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DEVICE = path.join(REPO, 'examples/device-mqtt/device.mjs');
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const id = `tls${randomUUID().slice(0, 8)}`;
const x509User = `svc.x509-${id}`;

let dir: string;
let ok: { ca: string; cert: string; key: string; clientCert: string; clientKey: string };
let rogue: { ca: string; clientCert: string; clientKey: string };
let broker: ThrowawayBroker;
let admin: BrokerAdmin;
let api: (method: string, p: string, body?: unknown) => Promise<unknown>;
const buses: Bus[] = [];
let device: ChildProcess | undefined;

async function devCerts(out: string, clientCn: string): Promise<void> {
  await run('sh', [path.join(REPO, 'scripts/dev-certs.sh'), out], {
    env: { ...process.env, CLIENT_CNS: clientCn },
  });
}

/** Resolves 'connected', or the error code / 'closed' when the broker or the TLS layer refuses. */
function mqttOutcome(url: string, opts: mqtt.IClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const done = (outcome: string): void => {
      client.end(true);
      resolve(outcome);
    };
    client.once('connect', () => done('connected'));
    client.once('error', (err: Error & { code?: unknown }) => done(String(err.code ?? err.message)));
    client.once('close', () => done('closed'));
  });
}

/** Starts a bus and resolves with how its first connect went: 'connected' or describeConnectError's code. */
async function busOutcome(url: string, tls: TlsFiles | undefined, publish = false): Promise<string> {
  let failure: string | undefined;
  const bus = createBus({
    url,
    tls,
    connectionName: `tls-probe-${randomUUID()}`,
    logger,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    onConnectError: (err) => {
      failure ??= describeConnectError(err, url).code;
    },
  });
  // with `publish`, a confirmed publish too: the broker accepts the bus's user_id stamp only when it is the
  // connection's user (for EXTERNAL, the certificate's CN)
  const started = bus
    .start()
    .then(() => (publish ? bus.publish('tls.probe', Buffer.from('x')) : undefined))
    .then(() => 'connected');
  const failed = waitFor(() => failure !== undefined, 'a connect failure', 15_000).then(() => failure!);
  const outcome = await Promise.race([started, failed]);
  await bus.stop().catch(() => undefined);
  return outcome;
}

const withoutUser = (url: string): string => {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
};

describe.skipIf(!canStartThrowawayBroker())('TLS for AMQP and MQTT (throwaway RabbitMQ, test CA)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ss-tls-test-'));
    await devCerts(path.join(dir, 'ok'), x509User);
    await devCerts(path.join(dir, 'rogue'), x509User); // another CA, same names: only trust differs
    const f = (d: string, n: string) => path.join(dir, d, n);
    ok = {
      ca: f('ok', 'ca.pem'),
      cert: f('ok', 'server.pem'),
      key: f('ok', 'server.key'),
      clientCert: f('ok', `client-${x509User}.pem`),
      clientKey: f('ok', `client-${x509User}.key`),
    };
    rogue = {
      ca: f('rogue', 'ca.pem'),
      clientCert: f('rogue', `client-${x509User}.pem`),
      clientKey: f('rogue', `client-${x509User}.key`),
    };
    broker = await startThrowawayBroker({ tls: { caFile: ok.ca, certFile: ok.cert, keyFile: ok.key } });
    const mgmt = new URL(broker.managementUrl);
    const authorization = `Basic ${Buffer.from(`${mgmt.username}:${mgmt.password}`).toString('base64')}`;
    api = async (method, p, body) => {
      const res = await fetch(`http://${mgmt.host}/api${p}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`management ${method} ${p}: ${res.status} ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };
    admin = createBrokerAdmin({ managementUrl: broker.managementUrl, vhost: '/' });
  }, 180_000);

  afterAll(async () => {
    device?.kill('SIGKILL');
    for (const b of buses) await b.stop().catch(() => undefined);
    await broker?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a service (amqps://, TLS_CA_FILE) and an MQTT device (mqtts://) connect, and the data flows', async () => {
    // The service's path: environment -> loadCommonConfig -> createBus.
    const config = loadCommonConfig(
      { AMQP_URL: broker.amqpsUrl!, TLS_CA_FILE: ok.ca, METRICS_PORT: '0' },
      'tls-test',
    );
    expect(config.tls).toEqual({ caFile: ok.ca });
    const bus = createBus({ url: config.amqpUrl, tls: config.tls, connectionName: `tls-svc-${id}`, logger });
    buses.push(bus);
    await bus.start();
    // the platform's MQTT forwarding (as the broker definitions declare it)
    for (const k of ['data', 'logs', 'state', 'acks'])
      await api('POST', '/bindings/%2F/e/amq.topic/e/sensor_streaming', { routing_key: `sensor.*.${k}` });
    const data: MeasurementBatch[] = [];
    await bus.consume({
      queue: { name: `tls-data-${id}`, type: 'classic', bindings: [bindingPatterns.data], exclusive: true },
      handler: async (d) => void data.push(measurementBatchCodec.decode(d.body, d.contentType)),
    });

    const serial = `${id}-dev`;
    const [cred] = (await admin.provision([{ serial }])) as [DeviceCredential];
    let output = '';
    device = spawn(process.execPath, [DEVICE], {
      env: {
        ...process.env,
        MQTT_URL: broker.mqttsUrl!,
        TLS_CA_FILE: ok.ca,
        DEVICE_SERIAL: serial,
        DEVICE_USERNAME: cred.mqttUsername,
        DEVICE_SECRET: cred.secret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    device.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    device.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      () => data.some((b) => b.serial === serial),
      `data from the device (output: ${output})`,
      30_000,
    );

    // Both really are TLS connections, as the broker sees them (its connection list lags a few seconds).
    type Conn = {
      user: string;
      ssl: boolean;
      protocol: string;
      client_properties?: { connection_name?: string };
    };
    let svc: Conn[] = [];
    let dev: Conn[] = [];
    await waitFor(
      async () => {
        const conns = (await api('GET', '/connections')) as Conn[];
        svc = conns.filter((c) => c.client_properties?.connection_name?.startsWith(`tls-svc-${id}`));
        dev = conns.filter((c) => c.user === serial);
        return svc.length === 2 && dev.length === 1; // publish + consume; the device
      },
      'the service and device connections in the management API',
      20_000,
    );
    expect(svc.map((c) => c.ssl)).toEqual([true, true]);
    expect(dev[0]).toMatchObject({ ssl: true });
    expect(dev[0]!.protocol).toMatch(/MQTT/);
    device.kill('SIGTERM');
  }, 90_000);

  it('a client trusting another CA, or only the system CAs, is refused (AMQP and MQTT)', async () => {
    expect(await busOutcome(broker.amqpsUrl!, { caFile: rogue.ca })).toBe('BUS_TLS_UNTRUSTED');
    expect(await busOutcome(broker.amqpsUrl!, undefined)).toBe('BUS_TLS_UNTRUSTED');
    const [cred] = (await admin.provision([{ serial: `${id}-rogue` }])) as [DeviceCredential];
    const login = { clientId: `${id}-rogue`, username: cred.mqttUsername, password: cred.secret };
    expect(await mqttOutcome(broker.mqttsUrl!, { ...login, ca: readFileSync(rogue.ca) })).toMatch(
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
    expect(await mqttOutcome(broker.mqttsUrl!, login)).toMatch(
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
    // the control: the same login with the right CA connects
    expect(await mqttOutcome(broker.mqttsUrl!, { ...login, ca: readFileSync(ok.ca) })).toBe('connected');
  }, 90_000);

  it('plain TCP to the TLS ports fails, and TLS to the plain port is named', async () => {
    const amqpsPort = new URL(broker.amqpsUrl!).port;
    await expect(
      amqpConnect(`amqp://guest:guest@127.0.0.1:${amqpsPort}`, { timeout: 5000 }),
    ).rejects.toThrow();
    const [cred] = (await admin.provision([{ serial: `${id}-plain` }])) as [DeviceCredential];
    const mqttsPort = new URL(broker.mqttsUrl!).port;
    expect(
      await mqttOutcome(`mqtt://127.0.0.1:${mqttsPort}`, {
        clientId: `${id}-plain`,
        username: cred.mqttUsername,
        password: cred.secret,
      }),
    ).not.toBe('connected');
    const plainPort = new URL(broker.amqpUrl).port;
    expect(await busOutcome(`amqps://guest:guest@127.0.0.1:${plainPort}`, { caFile: ok.ca })).toBe(
      'BUS_TLS_FAILED',
    );
  }, 60_000);

  it('a client certificate logs in as its CN with SASL EXTERNAL; one from another CA is refused', async () => {
    await api('PUT', `/users/${encodeURIComponent(x509User)}`, { password_hash: '', tags: '' });
    // the bus declares the base topology on connect: this test user may (a service role would be narrower)
    await api('PUT', `/permissions/%2F/${encodeURIComponent(x509User)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    const url = withoutUser(broker.amqpsUrl!);
    const conn = await amqpConnect(url, {
      ca: readFileSync(ok.ca),
      cert: readFileSync(ok.clientCert),
      key: readFileSync(ok.clientKey),
      credentials: (await import('amqplib')).credentials.external(),
      clientProperties: { connection_name: `tls-x509-${id}` },
    });
    try {
      await waitFor(
        async () => {
          const conns = (await api('GET', '/connections')) as {
            user: string;
            auth_mechanism: string;
            client_properties?: { connection_name?: string };
          }[];
          const c = conns.find((x) => x.client_properties?.connection_name === `tls-x509-${id}`);
          return c?.user === x509User && c.auth_mechanism === 'EXTERNAL';
        },
        'the x509 connection listed as its CN with EXTERNAL',
        15_000,
      );
    } finally {
      await conn.close();
    }
    // The bus does the same from TLS_CERT_FILE/TLS_KEY_FILE and a URL without a user.
    expect(
      await busOutcome(url, { caFile: ok.ca, certFile: ok.clientCert, keyFile: ok.clientKey }, true),
    ).toBe('connected');
    const refused = await busOutcome(url, {
      caFile: ok.ca,
      certFile: rogue.clientCert,
      keyFile: rogue.clientKey,
    });
    expect(refused).toBe('BUS_TLS_FAILED'); // the broker's verify_peer: unknown CA alert
  }, 60_000);
});
