import {
  baseTopologyDefinitions,
  type QueueSpec,
  queueDefinitions,
  type TopologyDefinitions,
} from '@sensor-streaming/bus';
import { MQTT_COMMAND_FORWARDING, MQTT_SESSION_POLICY } from '@sensor-streaming/control';
import { shardQueues } from '@sensor-streaming/ingest';
import { bindingPatterns, EXCHANGE } from '@sensor-streaming/protocol';
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
 * forwarding bindings (both ways), the MQTT session dead-letter policy and,
 * with `ingestShards`, the ingesters' data queues (ingestTopologyDefinitions).
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
  /**
   * The ingesters' INGEST_SHARDS in this deployment: their data queues (and shards) are declared with the
   * broker, so data published before the first ingester starts is kept (ingestTopologyDefinitions).
   * Omitted: not declared here (each ingester declares its own on start; test brokers without ingesters).
   */
  ingestShards?: number;
}): Record<string, unknown> {
  const { vhost, admin } = opts;
  // what every bus declares on connect, then the ingesters' data queues: the bus's own descriptions
  const base = baseTopologyDefinitions(vhost);
  const ingest = ingestTopologyDefinitions(vhost, opts.ingestShards);
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
    exchanges: [...base.exchanges, ...ingest.exchanges],
    queues: [...base.queues, ...ingest.queues],
    bindings: [
      ...base.bindings,
      // MQTT devices publish to amq.topic: forward their topics to the platform exchange
      ...['data', 'logs', 'state', 'acks'].map((k) => forward('amq.topic', EXCHANGE, `sensor.*.${k}`)),
      // and commands the other way, to their MQTT sessions
      forward(
        MQTT_COMMAND_FORWARDING.source,
        MQTT_COMMAND_FORWARDING.destination,
        MQTT_COMMAND_FORWARDING.routingKey,
      ),
      ...ingest.bindings,
    ],
    policies: [
      { vhost, name: policyName, ...policy },
      { vhost, ...DEAD_LETTER_QUEUE_POLICY },
    ],
  };
}

// ---- The ingesters' data topology (issue 15: never lose a measurement) ----
// Kept apart from brokerDefinitions' own lists: it is derived, not written out.

/**
 * The ingesters' queues under their default INGEST_QUEUE (the service name, which is also the role
 * platform-definitions.ts grants them) and the routing pattern each consumes.
 */
export const INGEST_QUEUES = [
  { base: 'measurements-ingester', binding: bindingPatterns.data },
  { base: 'logs-ingester', binding: bindingPatterns.logs },
] as const;

/**
 * The ingesters' data queues for `shards` (their INGEST_SHARDS): `<base>` bound to `sensor_streaming`, or the
 * consistent-hash exchange `<base>.shards` bound to it and the quorum queues `<base>.shard-i` bound to that
 * with weight 1. Built from the ingesters' own specs (shardQueues) through the bus's own declarations
 * (queueDefinitions), so when an ingester starts its declare is equivalent to what the broker already has.
 * With them in the definitions, what sensors publish between the broker's start and the first ingester's
 * is queued instead of routed nowhere. Undefined: none (the ingesters declare them on start).
 */
export function ingestTopologyDefinitions(vhost: string, shards: number | undefined): TopologyDefinitions {
  if (shards === undefined) return { exchanges: [], queues: [], bindings: [] };
  return queueDefinitions(ingestQueueSpecs(shards), vhost);
}

/** The queue specs both ingesters consume with INGEST_SHARDS = `shards` (and their default INGEST_QUEUE). */
export function ingestQueueSpecs(shards: number): QueueSpec[] {
  return INGEST_QUEUES.flatMap((q) => shardQueues(q.base, q.binding, shards));
}
