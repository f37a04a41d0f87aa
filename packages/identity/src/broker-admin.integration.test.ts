import { createTestVhost, type TestVhost } from '@sensor-streaming/bus/testing';
import { connect } from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerAdmin, createBrokerAdmin } from './broker-admin.js';
import { amqpUrlFor, managementUrl, mqttUrl, runId } from './testing-broker.js';

let vhost: TestVhost;
let admin: BrokerAdmin;
const id = runId();
const serials = [`${id}-a`, `${id}-b`, `${id}-c`];

async function mqttConnects(username: string, password: string, clientId: string): Promise<boolean> {
  const client = mqtt.connect(mqttUrl(), {
    username,
    password,
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const ok = await new Promise<boolean>((resolve) => {
    client.once('connect', () => resolve(true));
    client.once('error', () => resolve(false));
    client.once('close', () => resolve(false));
  });
  await client.endAsync(true).catch(() => undefined);
  return ok;
}

beforeAll(async () => {
  vhost = await createTestVhost('identity');
  admin = createBrokerAdmin({ managementUrl: managementUrl(), vhost: vhost.vhost, chunkSize: 2 });
});

afterAll(async () => {
  for (const s of serials) await admin.revoke(s).catch(() => undefined);
  await vhost?.drop();
});

describe('BrokerAdmin against RabbitMQ 3.10', () => {
  it('provisions devices in chunks, each with its own secret that opens MQTT and AMQP', async () => {
    const progress: number[] = [];
    const creds = await admin.provision(
      serials.map((serial, i) => ({ serial, transport: i === 2 ? ('amqp' as const) : ('mqtt' as const) })),
      (done) => progress.push(done),
    );
    expect(progress).toEqual([2, 3]);
    expect(new Set(creds.map((c) => c.secret)).size).toBe(3);
    const [a, b, c] = creds;
    expect(a!.mqttUsername).toBe(`${vhost.vhost}:${serials[0]}`);
    expect(await mqttConnects(a!.mqttUsername, a!.secret, a!.serial)).toBe(true);
    expect(await mqttConnects(a!.mqttUsername, b!.secret, a!.serial)).toBe(false);
    // An AMQP device consumes the command queue provisioning declared for it (it may not declare one).
    const conn = await connect(amqpUrlFor(c!.username, c!.secret, vhost.vhost));
    try {
      const ch = await conn.createChannel();
      const q = await ch.checkQueue(`sensor.${c!.serial}.commands`);
      expect(q.queue).toBe(`sensor.${c!.serial}.commands`);
      await ch.consume(q.queue, () => undefined);
    } finally {
      await conn.close();
    }
    await expect(admin.provision([{ serial: serials[0]! }])).rejects.toMatchObject({
      code: 'IDENTITY_ALREADY_PROVISIONED',
    });
  });

  it('rotate: the old secret stops working; revoke: nothing works and the queues go', async () => {
    const rotated = await admin.rotate(serials[1]!);
    expect(await mqttConnects(rotated.mqttUsername, rotated.secret, serials[1]!)).toBe(true);
    expect(await admin.revoke(serials[1]!)).toBe(true);
    expect(await mqttConnects(rotated.mqttUsername, rotated.secret, serials[1]!)).toBe(false);
    expect(await admin.isProvisioned(serials[1]!)).toBe(false);
    expect(await admin.revoke(serials[1]!)).toBe(false);
    await expect(admin.rotate(serials[1]!)).rejects.toMatchObject({ code: 'IDENTITY_NOT_PROVISIONED' });
  });
});
