import type { Bus } from '@sensor-streaming/bus';
import { MQTT_COMMAND_FORWARDING, mqttClientId } from '@sensor-streaming/control';
import { CONTENT_TYPE_PROTOBUF, EXCHANGE, routingKeys } from '@sensor-streaming/protocol';
import { isTlsUrl, type Logger, loadTlsMaterial, type TlsFiles } from '@sensor-streaming/runtime';
import type { Socket } from 'node:net';
import type { Channel } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';

export type MessageKind = 'data' | 'logs' | 'state' | 'acks';

/**
 * How sensors' messages leave the process. AMQP sensors' commands are consumed
 * through the bus (`consumeMany`, see simulator.ts); MQTT sensors receive theirs over their own MQTT session.
 */
export interface SensorTransport {
  readonly name: 'amqp' | 'mqtt';
  start(): Promise<void>;
  /**
   * Resolves once the broker has the message (AMQP confirm, MQTT PUBACK).
   * `urgent` messages (command acks and what must precede them) do not queue
   * behind the data stream.
   */
  publish(kind: MessageKind, serial: string, body: Buffer, urgent?: boolean): Promise<void>;
  isConnected(): boolean;
  /** Whether this sensor's messages can go out now (else its samples stay due for later). */
  canPublish(serial: string): boolean;
  /** Closes the connection(s); publish the OFFLINE wills first. */
  stop(): Promise<void>;
}

/**
 * Publishes on the bus (publisher confirms, bounded in-flight window). Urgent
 * messages go through `control`, a second bus with its own publish
 * connection, so that a command ack never waits behind thousands of
 * MeasurementBatches in the data bus's window.
 */
export function createAmqpTransport(bus: Bus, control: Bus = bus): SensorTransport {
  return {
    name: 'amqp',
    start: () => Promise.resolve(), // the simulator starts and stops the buses itself
    publish: (kind, serial, body, urgent = false) =>
      (urgent ? control : bus).publish(routingKeys[kind](serial), body, {
        contentType: CONTENT_TYPE_PROTOBUF,
      }),
    isConnected: () => bus.isConnected() && control.isConnected(),
    canPublish: () => bus.isConnected(),
    stop: () => Promise.resolve(),
  };
}

/** MQTT topic of a message: RabbitMQ's MQTT plugin maps `/` to `.`, so this is routing key `sensor.<serial>.<kind>`. */
export function mqttTopic(kind: MessageKind, serial: string): string {
  return `sensor/${serial}/${kind}`;
}

const MESSAGE_KINDS: readonly MessageKind[] = ['data', 'logs', 'state', 'acks'];

/** The topic filter an MQTT device subscribes to for its commands. */
export function mqttCommandFilter(serial: string): string {
  return `sensor/${serial}/commands/#`;
}

/**
 * RabbitMQ's MQTT plugin publishes to `amq.topic`; bind our exchange to it for
 * the sensor topics so MQTT sensors reach the same consumers, and forward
 * commands the other way so MQTT sessions receive them. Idempotent.
 */
export async function declareMqttForwarding(ch: Channel): Promise<void> {
  await ch.assertExchange(EXCHANGE, 'topic', { durable: true });
  for (const kind of MESSAGE_KINDS) await ch.bindExchange(EXCHANGE, 'amq.topic', `sensor.*.${kind}`);
  const f = MQTT_COMMAND_FORWARDING;
  await ch.bindExchange(f.destination, f.source, f.routingKey);
}

/** One device's MQTT credential: `<vhost>:<user>` selects a vhost on RabbitMQ. */
export interface MqttCredential {
  username: string;
  password: string;
}

export interface MqttTransportOptions {
  url: string;
  /** RabbitMQ MQTT: `<vhost>:<user>` selects a vhost. Defaults to the URL's user info. */
  username?: string;
  password?: string;
  serials: readonly string[];
  /** Each device's own credential (provisioned identity); default: the shared username/password. */
  credentials?: (serial: string) => MqttCredential | undefined;
  /**
   * Commands received over MQTT (persistent session, QoS 1, client id = serial).
   * Without it the sensors do not subscribe (clean sessions, publish only).
   * A rejected promise is logged; the command is answered from the sensor's
   * duplicate memory if the broker delivers it again.
   */
  onCommand?: (serial: string, body: Buffer) => Promise<void>;
  /** The OFFLINE SensorState (reason WILL) the broker publishes if a sensor's connection dies. */
  will(serial: string): Buffer;
  logger: Logger;
  /** Connections opened at once while starting. Default 50. */
  connectConcurrency?: number;
  /** CA, client certificate and key for an mqtts:// or wss:// url (read once at start). */
  tls?: TlsFiles | undefined;
}

/**
 * One MQTT connection per sensor, as a real device would have, each with its
 * OFFLINE SensorState as MQTT last will (QoS 1). Publishes at QoS 1 to the
 * topics `sensor/<serial>/<kind>`. Meant for tens to a few thousand sensors;
 * use the AMQP transport for more.
 */
export interface MqttTransport extends SensorTransport {
  /**
   * Cuts one sensor's TCP connection without an MQTT DISCONNECT, as a network
   * failure would: the broker then publishes the sensor's last will. The
   * client reconnects by itself. For chaos testing.
   */
  simulateNetworkFailure(serial: string): void;
}

/** 1 to 5 s, at random: how long an MQTT device waits before reconnecting. */
function reconnectDelayMs(): number {
  return 1000 + Math.floor(Math.random() * 4000);
}

export function createMqttTransport(opts: MqttTransportOptions): MqttTransport {
  if (opts.serials.length === 0) throw new RangeError('createMqttTransport: no serials');
  const clients = new Map<string, MqttClient>();
  const log = opts.logger.child({ component: 'mqtt' });
  const u = new URL(opts.url);
  const username = opts.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  u.username = '';
  u.password = '';
  const brokerUrl = u.toString();
  // Verification stays on (mqtt.js's default); the files are read once for the whole fleet.
  const tls = isTlsUrl(brokerUrl) ? loadTlsMaterial(opts.tls) : {};

  const onCommand = opts.onCommand;

  /**
   * Subscribes the sensor to its commands. A connection lost before the SUBACK (a keepalive
   * timeout while a loaded broker sets up thousands of sessions) is not a refusal: mqtt.js
   * reconnects by itself, and the SUBSCRIBE is sent again once it has (a few times at most).
   */
  async function subscribeCommands(client: MqttClient, serial: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let granted: Awaited<ReturnType<MqttClient['subscribeAsync']>>;
      try {
        granted = await client.subscribeAsync(mqttCommandFilter(serial), { qos: 1 });
      } catch (err) {
        if (attempt >= 5) throw err;
        log.warn({ err, serial, attempt }, 'MQTT command subscription interrupted; again after reconnecting');
        if (!client.connected) await reconnected(client, serial);
        continue;
      }
      if (granted.some((g) => g.qos !== 1))
        throw new Error(`broker refused the command subscription of sensor ${serial}`);
      return;
    }
  }

  /** Resolves on the client's next CONNACK; rejects after a minute without one. */
  function reconnected(client: MqttClient, serial: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('connect', onConnect);
        reject(new Error(`MQTT sensor ${serial} did not reconnect within 60 s`));
      }, 60_000);
      const onConnect = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('connect', onConnect);
    });
  }

  async function open(serial: string): Promise<void> {
    const own = opts.credentials?.(serial);
    const user = own?.username ?? username;
    const pass = own?.password ?? password;
    const client = mqtt.connect(brokerUrl, {
      // The client id is the serial: the broker keeps the persistent session (and its command
      // queue, mqtt-subscription-<serial>qos1) under it, and the device's permissions name it.
      clientId: mqttClientId(serial),
      protocolVersion: 4, // RabbitMQ 3.10's plugin speaks MQTT 3.1.1
      // A persistent session when the sensor takes commands: those sent while it is away wait.
      clean: onCommand === undefined,
      // 60 s (mqtt.js's and most firmware's default): a PINGREQ after 60 s idle, the connection
      // given up 30 s later without a PINGRESP. At 30 s, devices idle while a loaded broker set up
      // thousands of sessions missed the 15 s answer and reconnected, adding to the load.
      keepalive: 60,
      reconnectPeriod: reconnectDelayMs(),
      // A CONNACK can take a loaded broker (one setting up thousands of persistent sessions)
      // more than 10 s; giving up earlier throws that work away and starts it again.
      connectTimeout: 30_000,
      ...(user === undefined ? {} : { username: user }),
      ...(pass === undefined ? {} : { password: pass }),
      will: { topic: mqttTopic('state', serial), payload: opts.will(serial), qos: 1, retain: false },
      ...tls,
    });
    client.on('error', (err) => log.warn({ err, serial }, 'mqtt client error'));
    // A new random delay before each reconnect: devices dropped together (a broker restart, a
    // stall) come back spread out instead of all at once every second.
    client.on('close', () => {
      client.options.reconnectPeriod = reconnectDelayMs();
    });
    // TCP_NODELAY on every (re)connected stream (Node leaves Nagle on). With Nagle, the command's
    // PUBACK goes out and the CommandAck written a moment later waits for the broker's delayed
    // ACK of it (~40 ms on Linux): a fixed delay on every MQTT command round trip.
    client.on('connect', () => (client.stream as Partial<Socket>).setNoDelay?.(true));
    // Known before it connects: a command delivered at once is answered over this client.
    clients.set(serial, client);
    if (onCommand !== undefined) {
      // Listening before the CONNECT: a resumed session delivers the commands that waited at once.
      // mqtt.js sends the PUBACK once this listener has run: the command is taken on receipt (as
      // firmware does) and handled asynchronously; its CommandAck is the application's answer.
      client.on('message', (_topic, payload) => {
        onCommand(serial, payload).catch((err: unknown) =>
          log.warn({ err, serial }, 'MQTT command not handled'),
        );
      });
    }
    try {
      // A timeout or a refused TCP connection is retried by mqtt.js (reconnectPeriod): wait for it.
      // A refused login (CONNACK 4 bad user name or password, 5 not authorized) will not get better.
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error & { code?: unknown }): void => {
          if (err.code === 4 || err.code === 5) {
            client.off('connect', onConnect);
            client.off('error', onError);
            reject(new Error(`MQTT login of sensor ${serial} refused: ${err.message}`));
          }
        };
        const onConnect = (): void => {
          client.off('error', onError);
          resolve();
        };
        client.once('connect', onConnect);
        client.on('error', onError);
      });
      if (onCommand !== undefined) await subscribeCommands(client, serial);
    } catch (err) {
      clients.delete(serial);
      await client.endAsync(true).catch(() => undefined);
      throw err;
    }
  }

  return {
    name: 'mqtt',
    async start() {
      const limit = opts.connectConcurrency ?? 50;
      let i = 0;
      const worker = async (): Promise<void> => {
        while (i < opts.serials.length) await open(opts.serials[i++]!);
      };
      await Promise.all(Array.from({ length: Math.min(limit, opts.serials.length) }, worker));
      log.info({ clients: clients.size }, 'mqtt clients connected');
    },
    async publish(kind, serial, body) {
      const client = clients.get(serial);
      if (client === undefined) throw new Error(`no MQTT connection for sensor ${serial}`);
      await client.publishAsync(mqttTopic(kind, serial), body, { qos: 1 });
    },
    canPublish: (serial) => clients.get(serial)?.connected === true,
    simulateNetworkFailure(serial) {
      const client = clients.get(serial);
      if (client === undefined) throw new Error(`no MQTT connection for sensor ${serial}`);
      client.stream.destroy();
    },
    isConnected: () =>
      clients.size === opts.serials.length && [...clients.values()].every((c) => c.connected),
    async stop() {
      await Promise.all([...clients.values()].map((c) => c.endAsync().catch(() => undefined)));
      clients.clear();
    },
  };
}

/**
 * Sends each sensor's messages through the transport that owns it: a share
 * of the fleet as MQTT devices beside the AMQP ones, in one process.
 */
export function createSplitTransport(
  amqp: SensorTransport,
  mqttT: SensorTransport,
  mqttSerials: ReadonlySet<string>,
): SensorTransport {
  const pick = (serial: string): SensorTransport => (mqttSerials.has(serial) ? mqttT : amqp);
  return {
    name: 'mqtt',
    start: async () => {
      await amqp.start();
      await mqttT.start();
    },
    publish: (kind, serial, body, urgent) => pick(serial).publish(kind, serial, body, urgent),
    isConnected: () => amqp.isConnected() && mqttT.isConnected(),
    canPublish: (serial) => pick(serial).canPublish(serial),
    stop: async () => {
      await mqttT.stop();
      await amqp.stop();
    },
  };
}
