import { mqttSessionQueueName } from '@sensor-streaming/control';
import { assertSerial, commandQueueName, EXCHANGE } from '@sensor-streaming/protocol';

/** RabbitMQ's vhost permissions: regexes over resource names. */
export interface Permissions {
  configure: string;
  write: string;
  read: string;
}

/** RabbitMQ topic permissions: regexes over routing keys, for one topic exchange. */
export interface TopicPermissions {
  exchange: string;
  write: string;
  read: string;
}

/** A regex matching exactly `s` (serials are [A-Za-z0-9_-]: nothing to escape but the dots we add). */
const exact = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A device's vhost permissions. The broker user name IS the serial, and the
 * MQTT client id must be the serial too (the only MQTT session queue it may
 * create is its own).
 *
 * - configure: only its MQTT session queue, which RabbitMQ's MQTT plugin
 *   declares on the device's behalf (a plain AMQP device needs none: its
 *   command queue is declared by provisioning).
 * - write: the exchanges it publishes to (`sensor_streaming` over AMQP,
 *   `amq.topic` over MQTT; topic permissions confine the keys) and its session
 *   queue (the plugin binds it). Not the default exchange: no RPC, no publish
 *   straight into a queue.
 * - read: its own command queue (AMQP) or session queue and `amq.topic` (the
 *   plugin binds from it; topic read permissions confine the keys).
 */
export function devicePermissions(serial: string): Permissions {
  assertSerial(serial, 'serial');
  const session = exact(mqttSessionQueueName(serial));
  const commands = exact(commandQueueName(serial));
  return {
    configure: `^${session}$`,
    write: `^(${exact(EXCHANGE)}|amq\\.topic|${session})$`,
    read: `^(amq\\.topic|${session}|${commands})$`,
  };
}

/**
 * Topic permissions shared by every device (`{username}` is expanded by
 * RabbitMQ to the authenticated user, i.e. the serial): publish only
 * `sensor.<own serial>.(data|logs|state|acks)`, subscribe only to
 * `sensor.<own serial>.commands.*` (MQTT: the filter `commands/#`).
 */
export function deviceTopicPermissions(): TopicPermissions[] {
  const write = '^sensor\\.{username}\\.(data|logs|state|acks)$';
  const read = '^sensor\\.{username}\\.commands\\.(#|[a-z]+)$';
  return [
    { exchange: EXCHANGE, write, read },
    { exchange: 'amq.topic', write, read },
  ];
}
