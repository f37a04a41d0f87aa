import { describe, expect, it } from 'vitest';
import { brokerDefinitions } from './broker-definitions.js';
import { devicePermissions, deviceTopicPermissions } from './device-permissions.js';
import { rabbitPasswordHash, verifyRabbitPasswordHash } from './password-hash.js';
import { rolePermissions, roleUser, SERVICE_ROLES } from './platform-definitions.js';

const expand = (re: string, user: string) => new RegExp(re.replaceAll('{username}', user));

describe('device permissions', () => {
  it('confine a device to its own keys and queues', () => {
    const p = devicePermissions('pump-1');
    expect(new RegExp(p.configure).test('mqtt-subscription-pump-1qos1')).toBe(true);
    expect(new RegExp(p.configure).test('mqtt-subscription-pump-2qos1')).toBe(false);
    expect(new RegExp(p.configure).test('sensor.pump-1.commands')).toBe(false);
    expect(new RegExp(p.read).test('sensor.pump-1.commands')).toBe(true);
    expect(new RegExp(p.read).test('sensor.pump-10.commands')).toBe(false);
    expect(new RegExp(p.write).test('amq.default')).toBe(false);
    const [t] = deviceTopicPermissions();
    const w = expand(t!.write, 'pump-1');
    for (const k of ['data', 'logs', 'state', 'acks']) expect(w.test(`sensor.pump-1.${k}`)).toBe(true);
    for (const k of [
      'sensor.pump-2.data',
      'sensor.pump-1.commands.sleep',
      'sensor.pump-1.alarms.raised',
      'sensor.pump-1.data.x',
    ])
      expect(w.test(k), k).toBe(false);
    const r = expand(t!.read, 'pump-1');
    expect(r.test('sensor.pump-1.commands.#')).toBe(true);
    expect(r.test('sensor.pump-1.commands.sleep')).toBe(true);
    expect(r.test('sensor.pump-2.commands.#')).toBe(false);
    expect(r.test('sensor.#')).toBe(false);
  });
});

describe('platform roles', () => {
  it('have user names no serial can take', () => {
    for (const r of SERVICE_ROLES) expect(roleUser(r)).toMatch(/\./);
  });

  it('an ingester writes only its queue and the DLX, and publishes only its own kind', () => {
    const { permissions, topic } = rolePermissions('measurements-ingester');
    expect(new RegExp(permissions.write).test('measurements-ingester')).toBe(true);
    expect(new RegExp(permissions.write).test('sensor_streaming')).toBe(false);
    expect(new RegExp(permissions.configure).test('logs-ingester')).toBe(false);
    // its shards and their hash exchange, exactly; not another service's, not an arbitrary suffix
    for (const p of [permissions.configure, permissions.write, permissions.read]) {
      for (const name of [
        'measurements-ingester.shard-0',
        'measurements-ingester.shard-63',
        'measurements-ingester.shards',
      ])
        expect(new RegExp(p).test(name), name).toBe(true);
      for (const name of [
        'measurements-ingester.shard-64',
        'logs-ingester.shard-0',
        'measurements-ingester.shard-x',
      ])
        expect(new RegExp(p).test(name), name).toBe(false);
    }
    expect(new RegExp(topic[0]!.write).test('sensor.a.data')).toBe(true);
    expect(new RegExp(topic[0]!.write).test('sensor.a.commands.sleep')).toBe(false);
    // its queues' release exchanges and the rejection fanout; never the default exchange, which reaches
    // every queue (a sensor's command queue, say)
    for (const name of ['measurements-ingester.shard-3.release', 'sensor_streaming.rejected'])
      expect(new RegExp(permissions.write).test(name), name).toBe(true);
    for (const name of ['amq.default', 'logs-ingester.shard-3.release', 'sensor-registry.release'])
      expect(new RegExp(permissions.write).test(name), name).toBe(false);
  });

  it('a viewer may call the registry RPC and list alarms only; an operator may command and ack', () => {
    const viewer = rolePermissions('viewer').topic[0]!.write;
    expect(new RegExp(viewer).test('sensor-registry.rpc')).toBe(true);
    expect(new RegExp(viewer).test('alarm-service.rpc.read')).toBe(true);
    expect(new RegExp(viewer).test('alarm-service.rpc')).toBe(false);
    expect(new RegExp(viewer).test('alarm-service.rpcXread')).toBe(false);
    expect(new RegExp(viewer).test('sensor.a.commands.sleep')).toBe(false);
    const op = rolePermissions('operator').topic[0]!.write;
    for (const k of ['alarm-service.rpc', 'sensor-registry.rpc', 'sensor.a.commands.awake'])
      expect(new RegExp(op).test(k), k).toBe(true);
    expect(new RegExp(op).test('sensor.a.data')).toBe(false);
  });

  it('only the provisioner may call the registrar RPC (sensors.register / revoke)', () => {
    const prov = rolePermissions('provisioner').topic[0]!.write;
    expect(new RegExp(prov).test('sensor-registry.registrar')).toBe(true);
    expect(new RegExp(prov).test('sensor-registry.rpc')).toBe(false);
    expect(new RegExp(prov).test('sensor.a.data')).toBe(false);
    for (const r of ['viewer', 'operator', 'sensor-simulator'] as const)
      expect(new RegExp(rolePermissions(r).topic[0]!.write).test('sensor-registry.registrar'), r).toBe(false);
  });

  it('definitions carry every role, the MQTT forwarding and the session policy', () => {
    const d = brokerDefinitions({ vhost: '/', passwordHashes: { viewer: rabbitPasswordHash('x') } }) as {
      users: Array<{ name: string }>;
      bindings: Array<{ source: string; destination: string; routing_key: string }>;
      policies: Array<{ pattern: string }>;
    };
    expect(d.users.map((u) => u.name)).toEqual(['op.viewer']);
    expect(d.bindings).toContainEqual(
      expect.objectContaining({
        source: 'sensor_streaming',
        destination: 'amq.topic',
        routing_key: 'sensor.*.commands.*',
      }),
    );
    expect(d.policies[0]?.pattern).toBe('^mqtt-subscription-');
  });
});

describe('rabbitPasswordHash', () => {
  it('is RabbitMQ sha256 format: 4-byte salt + digest, verifiable', () => {
    const h = rabbitPasswordHash('s3cret', Buffer.from([1, 2, 3, 4]));
    expect(Buffer.from(h, 'base64')).toHaveLength(36);
    expect(verifyRabbitPasswordHash('s3cret', h)).toBe(true);
    expect(verifyRabbitPasswordHash('s3creT', h)).toBe(false);
  });
});
