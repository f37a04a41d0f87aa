import { MQTT_COMMAND_FORWARDING, MQTT_SESSION_POLICY } from '@sensor-streaming/control';
import {
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  EXCHANGE,
  REJECTED_EXCHANGE,
} from '@sensor-streaming/protocol';
import { platformDefinitions, type ServiceRole } from './platform-definitions.js';

/** The dead-letter queue's bounds (README "dead letters"): 100k messages, 14 days, oldest dropped first. */
export const DEAD_LETTER_QUEUE_POLICY = {
  name: 'sensor-streaming-dead',
  pattern: '^sensor_streaming\\.dead$',
  'apply-to': 'queues',
  priority: 0,
  definition: { 'max-length': 100_000, 'message-ttl': 1_209_600_000, overflow: 'drop-head' },
} as const;

/**
 * A complete RabbitMQ definitions document for a platform vhost: the roles'
 * users and permissions, the exchanges, the dead-letter queue, the MQTT
 * forwarding bindings (both ways) and the MQTT session dead-letter policy.
 * What compose (`load_definitions`) and Kubernetes (a definitions Secret, or
 * the messaging-topology operator's objects built from it) load at start.
 */
export function brokerDefinitions(opts: {
  vhost: string;
  passwordHashes: Partial<Record<ServiceRole, string>>;
  /**
   * An `administrator` user for the management UI and device provisioning (`iotctl sensors provision`),
   * kept by operations and never given to a service. Omitted: no administrator in the definitions.
   */
  admin?: { name: string; passwordHash: string };
}): Record<string, unknown> {
  const { vhost, admin } = opts;
  const roles = platformDefinitions(opts);
  const users = [
    ...roles.users,
    ...(admin === undefined
      ? []
      : [
          {
            name: admin.name,
            password_hash: admin.passwordHash,
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: ['administrator'],
            limits: {},
          },
        ]),
  ];
  const permissions = [
    ...roles.permissions,
    ...(admin === undefined ? [] : [{ user: admin.name, vhost, configure: '.*', write: '.*', read: '.*' }]),
  ];
  const exchange = (name: string, type = 'topic') => ({
    name,
    vhost,
    type,
    durable: true,
    auto_delete: false,
    internal: false,
    arguments: {},
  });
  const forward = (source: string, destination: string, routing_key: string) => ({
    source,
    vhost,
    destination,
    destination_type: 'exchange',
    routing_key,
    arguments: {},
  });
  const { name: policyName, ...policy } = MQTT_SESSION_POLICY;
  return {
    vhosts: [{ name: vhost }],
    ...roles,
    users,
    permissions,
    exchanges: [exchange(EXCHANGE), exchange(DEAD_LETTER_EXCHANGE), exchange(REJECTED_EXCHANGE, 'fanout')],
    queues: [
      {
        name: DEAD_LETTER_QUEUE,
        vhost,
        durable: true,
        auto_delete: false,
        arguments: { 'x-queue-type': 'quorum' },
      },
    ],
    bindings: [
      {
        source: DEAD_LETTER_EXCHANGE,
        vhost,
        destination: DEAD_LETTER_QUEUE,
        destination_type: 'queue',
        routing_key: '#',
        arguments: {},
      },
      {
        source: REJECTED_EXCHANGE,
        vhost,
        destination: DEAD_LETTER_QUEUE,
        destination_type: 'queue',
        routing_key: '',
        arguments: {},
      },
      // MQTT devices publish to amq.topic: forward their topics to the platform exchange
      ...['data', 'logs', 'state', 'acks'].map((k) => forward('amq.topic', EXCHANGE, `sensor.*.${k}`)),
      // and commands the other way, to their MQTT sessions
      forward(
        MQTT_COMMAND_FORWARDING.source,
        MQTT_COMMAND_FORWARDING.destination,
        MQTT_COMMAND_FORWARDING.routingKey,
      ),
    ],
    policies: [
      { vhost, name: policyName, ...policy },
      { vhost, ...DEAD_LETTER_QUEUE_POLICY },
    ],
  };
}
