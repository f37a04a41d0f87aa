import { assertSerial, commandQueueName, DEAD_LETTER_EXCHANGE, EXCHANGE } from '@sensor-streaming/protocol';

/**
 * Where a device's commands wait, whatever its transport.
 *
 * An AMQP device consumes `sensor.<serial>.commands` (declared by the device,
 * or by provisioning for a device without configure permission).
 *
 * An MQTT device cannot consume an arbitrary queue: RabbitMQ's MQTT plugin
 * (3.10 to 3.13) keeps a persistent session's QoS 1 subscriptions in a queue
 * it names `mqtt-subscription-<client id>qos1`. A device's MQTT client id is
 * its serial, so that queue is `mqtt-subscription-<serial>qos1`; it is bound
 * on `amq.topic` to `sensor.<serial>.commands.#`, and commands reach
 * `amq.topic` through the exchange binding below. The broker policy
 * `MQTT_SESSION_POLICY` dead-letters what expires there to the DLX, as the
 * AMQP command queue does, so EXPIRED means the same for both.
 */
export const MQTT_EXCHANGE = 'amq.topic';

/** The queue RabbitMQ's MQTT plugin keeps a device's QoS 1 subscriptions in (client id = serial). */
export function mqttSessionQueueName(serial: string): string {
  return `mqtt-subscription-${assertSerial(serial)}qos1`;
}

/** The MQTT client id a device must use: its serial (its broker user name too, see @sensor-streaming/identity). */
export function mqttClientId(serial: string): string {
  return assertSerial(serial);
}

/** Every queue that can hold a device's commands: the AMQP command queue and the MQTT session queue. */
export function deviceCommandQueues(serial: string): [amqp: string, mqtt: string] {
  return [commandQueueName(serial), mqttSessionQueueName(serial)];
}

const DEVICE_COMMAND_QUEUE =
  /^(?:sensor\.([A-Za-z0-9_-]{1,64})\.commands|mqtt-subscription-([A-Za-z0-9_-]{1,64})qos1)$/;

/**
 * The serial whose command queue `queue` is (either transport), else undefined:
 * for consumers of dead-lettered commands deciding whether a command expired
 * waiting for its device.
 */
export function deviceOfCommandQueue(queue: string): string | undefined {
  const m = DEVICE_COMMAND_QUEUE.exec(queue);
  return m === null ? undefined : (m[1] ?? m[2]);
}

/** The exchange binding that forwards commands to MQTT subscriptions: `sensor_streaming` -> `amq.topic`. */
export const MQTT_COMMAND_FORWARDING = {
  source: EXCHANGE,
  destination: MQTT_EXCHANGE,
  routingKey: 'sensor.*.commands.*',
} as const;

/**
 * The vhost policy that gives MQTT session queues the dead-letter exchange the
 * AMQP command queues declare themselves (policies are the only way: the MQTT
 * plugin declares the queue). A management API / definitions entry.
 */
export const MQTT_SESSION_POLICY = {
  name: 'mqtt-sessions-dead-letter',
  pattern: '^mqtt-subscription-',
  'apply-to': 'queues',
  priority: 0,
  definition: { 'dead-letter-exchange': DEAD_LETTER_EXCHANGE },
} as const;
