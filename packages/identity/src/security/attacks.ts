import {
  ALARM_RPC_QUEUE,
  ALARM_RPC_READ_KEY,
  REGISTRAR_RPC_QUEUE,
  REGISTRY_RPC_QUEUE,
} from '@sensor-streaming/control';
import {
  commandCodec,
  logBatchCodec,
  measurementBatchCodec,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { type ConfirmChannel, connect } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceCredential } from '../broker-admin.js';

/** Every attack payload carries this channel / message, so the database check can find any that got through. */
export const ATTACK_MARK = 'attack';

export interface AttackResult {
  name: string;
  refused: boolean;
  /** How the broker refused it, or what happened instead. */
  how: string;
}

export interface AttackTarget {
  /** AMQP URL for a user on the platform vhost. */
  amqpUrl(user: string, password: string): string;
  mqttUrl: string;
  /** The MQTT user name of a broker user (`<vhost>:<user>`). */
  mqttUser(user: string): string;
}

export interface AttackParties {
  /** The attacker's own, valid credential. */
  a: DeviceCredential;
  /** The victim: provisioned, with an AMQP command queue. */
  b: DeviceCredential;
  /** A credential that was revoked. */
  revoked: DeviceCredential;
  /** An operator with the read-only role (op.viewer). */
  viewer?: { username: string; secret: string };
  /** An operator with the operator role but without the alarm service's ack grant (ALARM_RPC_GRANTS). */
  unGranted?: { username: string; secret: string };
  /** The user the forgers claim to be (user_id): the operator who holds every grant, e.g. op.operator. */
  impersonated?: string;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

export function attackData(serial: string): Buffer {
  return measurementBatchCodec.encode({
    serial,
    channel: ATTACK_MARK,
    unit: 'g',
    sequence: 1,
    firstSampleTimeUs: Date.now() * 1000,
    samplePeriodNs: 1e9,
    values: [666],
  });
}

export function attackLogs(serial: string): Buffer {
  return logBatchCodec.encode({
    serial,
    sequence: 1,
    entries: [
      {
        timeUs: Date.now() * 1000,
        level: 'ERROR',
        errorCode: 'E_ATTACK',
        appVersion: '0',
        firmwareVersion: '0',
        message: ATTACK_MARK,
        component: ATTACK_MARK,
      },
    ],
  });
}

function attackCommand(serial: string): Buffer {
  const now = Date.now() * 1000;
  return commandCodec.encode({
    commandId: '00000000-0000-4000-8000-00000000a77a',
    serial,
    type: 'sleep',
    issuedAtUs: now,
    expiresAtUs: now + 60e6,
    issuedBy: 'an operator, says the device',
  });
}

export function attackState(serial: string): Buffer {
  return sensorStateCodec.encode({
    serial,
    kind: ATTACK_MARK,
    channels: [],
    firmware: ATTACK_MARK,
    state: 'OFFLINE',
    sampleFrequencyHz: 1,
    uptimeS: 0,
    reason: 'WILL',
    timeUs: Date.now() * 1000,
    labels: {},
    minFrequencyHz: 0,
    maxFrequencyHz: 0,
  });
}

const attackRegistration = (serial: string): Buffer =>
  Buffer.from(JSON.stringify({ method: 'sensors.register', params: { sensors: [{ serial }] } }));

/**
 * Closed registration: publishes data, logs and state of each serial (none provisioned) with a credential
 * the broker lets publish any serial (the development simulator's role, or guest in open development).
 * Resolves with how many messages the broker confirmed; whether they reached a table is for the caller.
 */
export async function floodUnprovisioned(url: string, serials: readonly string[]): Promise<number> {
  const conn = await connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createConfirmChannel();
    let n = 0;
    for (const serial of serials) {
      ch.publish('sensor_streaming', `sensor.${serial}.data`, attackData(serial));
      ch.publish('sensor_streaming', `sensor.${serial}.logs`, attackLogs(serial));
      ch.publish('sensor_streaming', `sensor.${serial}.state`, attackState(serial));
      n += 3;
    }
    await ch.waitForConfirms();
    return n;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Runs `act` on a fresh AMQP connection; refused when the connection, the channel or the act fails. */
async function amqpAttempt(
  url: string,
  act: (ch: ConfirmChannel) => Promise<unknown>,
): Promise<[boolean, string]> {
  let conn: Awaited<ReturnType<typeof connect>>;
  try {
    conn = await connect(url);
  } catch (err) {
    return [true, `connection refused: ${message(err)}`];
  }
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createConfirmChannel();
    const closed = new Promise<[boolean, string]>((resolve) => {
      ch.on('error', (err: Error) => resolve([true, `channel closed: ${message(err)}`]));
      ch.on('close', () => resolve([true, 'channel closed']));
    });
    const acted = (async (): Promise<[boolean, string]> => {
      try {
        await act(ch);
        await ch.waitForConfirms();
        return [false, 'accepted by the broker'];
      } catch (err) {
        return [true, message(err)];
      }
    })();
    const result = await Promise.race([acted, closed]);
    // A late channel error after an "accepted": trust the refusal only if it came first.
    return result;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

interface MqttLogin {
  username?: string;
  password?: string;
  clientId: string;
}

/** Connects over MQTT and runs `act`; refused when CONNECT fails, or the broker closes the connection or refuses. */
async function mqttAttempt(
  url: string,
  login: MqttLogin,
  act?: (c: MqttClient) => Promise<string>,
): Promise<[boolean, string]> {
  const client = mqtt.connect(url, {
    ...login,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  client.on('error', () => undefined);
  try {
    const connected = await new Promise<true | string>((resolve) => {
      client.once('connect', () => resolve(true));
      client.once('error', (err) => resolve(`CONNECT refused: ${message(err)}`));
      client.once('close', () => resolve('connection closed before CONNACK'));
    });
    if (connected !== true) return [true, connected];
    if (act === undefined) return [false, 'connected'];
    const closed = new Promise<[boolean, string]>((resolve) =>
      client.once('close', () => resolve([true, 'connection closed by the broker'])),
    );
    const acted = act(client).then(
      (what): [boolean, string] => (what.startsWith('refused') ? [true, what] : [false, what]),
      (err: unknown): [boolean, string] => [true, message(err)],
    );
    const timeout = new Promise<[boolean, string]>((resolve) =>
      setTimeout(() => resolve([false, 'no answer in 10 s (not refused)']), 10_000).unref(),
    );
    return await Promise.race([acted, closed, timeout]);
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

const mqttPublish = (topic: string, body: Buffer) => async (c: MqttClient) => {
  await c.publishAsync(topic, body, { qos: 1 });
  return 'PUBACK: accepted';
};

const mqttSubscribe = (filter: string) => async (c: MqttClient) => {
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  return granted.every((g) => g.qos === 128) ? 'refused: SUBACK failure' : 'SUBACK: subscribed';
};

/**
 * The attacks of the security suite: a device (A) acting as another (B) or as
 * an operator or service, credentials that must not work, and forgery of the
 * authenticated author. Each is tried against the real broker; none may succeed.
 */
export async function runAttacks(t: AttackTarget, p: AttackParties): Promise<AttackResult[]> {
  const { a, b, revoked } = p;
  const asA = t.amqpUrl(a.username, a.secret);
  const mA: MqttLogin = { username: t.mqttUser(a.username), password: a.secret, clientId: a.serial };
  const attacks: Array<[string, () => Promise<[boolean, string]>]> = [
    [
      'AMQP: A publishes data as B',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${b.serial}.data`, attackData(b.serial)),
        ),
    ],
    [
      'AMQP: A publishes data as B through amq.topic',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('amq.topic', `sensor.${b.serial}.data`, attackData(b.serial)),
        ),
    ],
    [
      'AMQP: A publishes state as B',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${b.serial}.state`, attackState(b.serial)),
        ),
    ],
    [
      'AMQP: A publishes a command to B',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${b.serial}.commands.sleep`, attackCommand(b.serial)),
        ),
    ],
    [
      'AMQP: A publishes a command to itself',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${a.serial}.commands.sleep`, attackCommand(a.serial)),
        ),
    ],
    [
      'AMQP: A raises an alarm',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${a.serial}.alarms.raised`, attackData(a.serial)),
        ),
    ],
    [
      'AMQP: A calls the registry RPC',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('', REGISTRY_RPC_QUEUE, Buffer.from('{"method":"sensors.list","params":{}}'), {
            replyTo: 'amq.rabbitmq.reply-to',
          }),
        ),
    ],
    [
      'AMQP: A calls the registry RPC through the exchange',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish(
            'sensor_streaming',
            REGISTRY_RPC_QUEUE,
            Buffer.from('{"method":"sensors.list","params":{}}'),
            {
              replyTo: 'amq.rabbitmq.reply-to',
              correlationId: 'x',
            },
          ),
        ),
    ],
    [
      'AMQP: A calls alarms.ack over RPC',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('', ALARM_RPC_QUEUE, Buffer.from('{"method":"alarms.ack","params":{"alarmId":"x"}}')),
        ),
    ],
    [
      'AMQP: A registers a serial of its own choosing (sensors.register)',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', REGISTRAR_RPC_QUEUE, attackRegistration(`${a.serial}-x`), {
            replyTo: 'amq.rabbitmq.reply-to',
            correlationId: 'x',
          }),
        ),
    ],
    ['AMQP: A declares a queue', () => amqpAttempt(asA, (ch) => ch.assertQueue(`evil-${a.serial}`))],
    [
      "AMQP: A deletes B's command queue",
      () => amqpAttempt(asA, (ch) => ch.deleteQueue(`sensor.${b.serial}.commands`)),
    ],
    [
      "AMQP: A reads B's command queue",
      () => amqpAttempt(asA, (ch) => ch.consume(`sensor.${b.serial}.commands`, () => undefined)),
    ],
    [
      'AMQP: A forges user_id (claims to be B)',
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${a.serial}.data`, attackData(a.serial), {
            userId: b.username,
          }),
        ),
    ],
    [
      'AMQP: wrong password',
      () => amqpAttempt(t.amqpUrl(a.username, `${a.secret}x`), (ch) => ch.checkExchange('sensor_streaming')),
    ],
    [
      'AMQP: revoked credential',
      () =>
        amqpAttempt(t.amqpUrl(revoked.username, revoked.secret), (ch) =>
          ch.checkExchange('sensor_streaming'),
        ),
    ],
    [
      'MQTT: A publishes data as B',
      () => mqttAttempt(t.mqttUrl, mA, mqttPublish(`sensor/${b.serial}/data`, attackData(b.serial))),
    ],
    [
      'MQTT: A publishes logs as B',
      () => mqttAttempt(t.mqttUrl, mA, mqttPublish(`sensor/${b.serial}/logs`, attackLogs(b.serial))),
    ],
    [
      'MQTT: A publishes a command to B',
      () =>
        mqttAttempt(t.mqttUrl, mA, mqttPublish(`sensor/${b.serial}/commands/sleep`, attackCommand(b.serial))),
    ],
    [
      "MQTT: A subscribes to B's commands",
      () => mqttAttempt(t.mqttUrl, mA, mqttSubscribe(`sensor/${b.serial}/commands/#`)),
    ],
    ['MQTT: A subscribes to everything', () => mqttAttempt(t.mqttUrl, mA, mqttSubscribe('#'))],
    [
      "MQTT: A takes B's client id and subscribes to B's commands",
      () =>
        mqttAttempt(t.mqttUrl, { ...mA, clientId: b.serial }, mqttSubscribe(`sensor/${b.serial}/commands/#`)),
    ],
    ['MQTT: wrong password', () => mqttAttempt(t.mqttUrl, { ...mA, password: `${a.secret}x` })],
    ['MQTT: anonymous', () => mqttAttempt(t.mqttUrl, { clientId: `anonymous-${a.serial}` })],
    [
      'MQTT: revoked credential',
      () =>
        mqttAttempt(t.mqttUrl, {
          username: t.mqttUser(revoked.username),
          password: revoked.secret,
          clientId: revoked.serial,
        }),
    ],
  ];
  if (p.viewer !== undefined) {
    const asViewer = t.amqpUrl(p.viewer.username, p.viewer.secret);
    attacks.push(
      [
        'AMQP: a read-only operator acknowledges an alarm (alarms.ack RPC)',
        () =>
          amqpAttempt(asViewer, async (ch) =>
            ch.publish(
              'sensor_streaming',
              ALARM_RPC_QUEUE,
              Buffer.from(
                '{"method":"alarms.ack","params":{"alarmId":"00000000-0000-4000-8000-000000000001"}}',
              ),
              { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'x' },
            ),
          ),
      ],
      [
        'AMQP: a read-only operator sends a command',
        () =>
          amqpAttempt(asViewer, async (ch) =>
            ch.publish('sensor_streaming', `sensor.${b.serial}.commands.sleep`, attackCommand(b.serial)),
          ),
      ],
      [
        'AMQP: a read-only operator registers a sensor (sensors.register)',
        () =>
          amqpAttempt(asViewer, async (ch) =>
            ch.publish('sensor_streaming', REGISTRAR_RPC_QUEUE, attackRegistration(`${b.serial}-x`), {
              replyTo: 'amq.rabbitmq.reply-to',
              correlationId: 'x',
            }),
          ),
      ],
      [
        'AMQP: a read-only operator publishes data as a device',
        () =>
          amqpAttempt(asViewer, async (ch) =>
            ch.publish('sensor_streaming', `sensor.${b.serial}.data`, attackData(b.serial)),
          ),
      ],
    );
  }
  // Forged authors: the alarm service records acknowledged_by and the registry issued_by from the AMQP user_id,
  // so claiming someone else's must be refused by the broker before any consumer sees it.
  if (p.impersonated !== undefined) {
    const claim = { userId: p.impersonated };
    const ackRequest = (): Buffer =>
      Buffer.from(
        '{"method":"alarms.ack","params":{"alarmId":"00000000-0000-4000-8000-000000000001","by":"op.operator"}}',
      );
    // no replyTo: direct reply-to needs a consumer on the channel, and the broker would refuse for that
    // instead of for the user_id this attack is about
    const rpc = { correlationId: 'x', ...claim };
    attacks.push([
      `AMQP: A publishes a command to B claiming to be ${p.impersonated} (forged user_id)`,
      () =>
        amqpAttempt(asA, async (ch) =>
          ch.publish('sensor_streaming', `sensor.${b.serial}.commands.sleep`, attackCommand(b.serial), claim),
        ),
    ]);
    if (p.viewer !== undefined) {
      const asViewer = t.amqpUrl(p.viewer.username, p.viewer.secret);
      attacks.push(
        [
          `AMQP: a read-only operator sends a command claiming to be ${p.impersonated} (forged user_id)`,
          () =>
            amqpAttempt(asViewer, async (ch) =>
              ch.publish(
                'sensor_streaming',
                `sensor.${b.serial}.commands.sleep`,
                attackCommand(b.serial),
                claim,
              ),
            ),
        ],
        [
          `AMQP: a read-only operator sends alarms.ack on the read-only key it may use, claiming to be ${p.impersonated} (forged user_id)`,
          () =>
            amqpAttempt(asViewer, async (ch) =>
              ch.publish('sensor_streaming', ALARM_RPC_READ_KEY, ackRequest(), rpc),
            ),
        ],
        [
          `AMQP: a read-only operator sends alarms.ack claiming to be ${p.impersonated} (forged user_id)`,
          () =>
            amqpAttempt(asViewer, async (ch) =>
              ch.publish('sensor_streaming', ALARM_RPC_QUEUE, ackRequest(), rpc),
            ),
        ],
      );
    }
    if (p.unGranted !== undefined) {
      const asUnGranted = t.amqpUrl(p.unGranted.username, p.unGranted.secret);
      attacks.push(
        [
          `AMQP: an operator without the ack grant sends alarms.ack claiming to be ${p.impersonated} (forged user_id)`,
          () =>
            amqpAttempt(asUnGranted, async (ch) =>
              ch.publish('sensor_streaming', ALARM_RPC_QUEUE, ackRequest(), rpc),
            ),
        ],
        [
          `AMQP: an operator sends a command claiming to be ${p.impersonated} (forged user_id)`,
          () =>
            amqpAttempt(asUnGranted, async (ch) =>
              ch.publish(
                'sensor_streaming',
                `sensor.${b.serial}.commands.sleep`,
                attackCommand(b.serial),
                claim,
              ),
            ),
        ],
      );
    }
  }
  const results: AttackResult[] = [];
  for (const [name, attempt] of attacks) {
    const [refused, how] = await attempt();
    results.push({ name, refused, how });
  }
  return results;
}
