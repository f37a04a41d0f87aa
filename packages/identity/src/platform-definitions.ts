import {
  ALARM_RPC_QUEUE,
  ALARM_RPC_READ_KEY,
  REGISTRAR_RPC_QUEUE,
  REGISTRY_RPC_QUEUE,
} from '@sensor-streaming/control';
import {
  DEAD_LETTER_EXCHANGE,
  EXCHANGE,
  MAX_SHARDS,
  REJECTED_EXCHANGE,
  releaseExchangeName,
  shardExchangeName,
  shardQueueName,
} from '@sensor-streaming/protocol';
import { BASE_TOPOLOGY } from '@sensor-streaming/bus';
import type { Permissions, TopicPermissions } from './device-permissions.js';

/**
 * The platform's own identities, least privilege each, as RabbitMQ
 * definitions (users, permissions, topic permissions). User names contain a
 * dot, which no serial can (serials are [A-Za-z0-9_-]), so a device can never
 * be provisioned under a service's name.
 */
export type ServiceRole =
  | 'measurements-ingester'
  | 'logs-ingester'
  | 'sensor-registry'
  | 'alarm-service'
  | 'sensor-simulator'
  | 'operator'
  | 'viewer'
  | 'provisioner';

export const SERVICE_ROLES: readonly ServiceRole[] = [
  'measurements-ingester',
  'logs-ingester',
  'sensor-registry',
  'alarm-service',
  'sensor-simulator',
  'operator',
  'viewer',
  'provisioner',
];

/** The broker user of a role: `svc.<service>`, `op.operator`, `op.viewer`, `op.provisioner`. */
export function roleUser(role: ServiceRole): string {
  return role === 'operator' || role === 'viewer' || role === 'provisioner' ? `op.${role}` : `svc.${role}`;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A regex matching exactly one of the names (or patterns given as `/re/`). */
function oneOf(...names: string[]): string {
  const parts = names.map((n) => (n.startsWith('/') && n.endsWith('/') ? n.slice(1, -1) : esc(n)));
  return parts.length === 0 ? '^$' : `^(${parts.join('|')})$`;
}

/** What every bus declares on connect (the bus's BASE_TOPOLOGY), and its own dead letters. */
const BASE = {
  // declares the exchanges and the queue, binds the queue (write on it, read on each source)
  configure: [...BASE_TOPOLOGY.exchanges.map((x) => x.name), BASE_TOPOLOGY.queue.name],
  // REJECTED_EXCHANGE: where a consumer dead-letters a message itself (a fanout to the dead-letter queue alone)
  write: [BASE_TOPOLOGY.queue.name, REJECTED_EXCHANGE],
  read: BASE_TOPOLOGY.bindings.map((b) => b.source),
};

/** A quorum queue's own release exchange (see releaseExchangeName): declared, bound to it, published to. */
const releaseOf = (queues: readonly string[]): string[] => queues.map(releaseExchangeName);

const CONTROL_ACKS = '/control\\.acks\\..+/'; // packages/control's private ack queue (exclusive)
// the registry's private queue of data and logs traffic (liveness from any message; auto-deleted)
const REGISTRY_TRAFFIC = '/sensor-registry\\.traffic\\..+/';
const COMMAND_KEYS = 'sensor\\.[A-Za-z0-9_-]+\\.commands\\.[a-z]+';

interface RoleSpec {
  configure: string[];
  write: string[];
  read: string[];
  /** Routing keys it may publish on `sensor_streaming` (and the DLX, for consumers that dead-letter). */
  publishKeys: string;
}

function ingester(base: string, kind: 'data' | 'logs'): RoleSpec {
  // its single queue or its shards (INGEST_SHARDS; those of another count it drains), each name exactly
  const queues = [base, ...Array.from({ length: MAX_SHARDS }, (_, i) => shardQueueName(base, i))];
  const shards = shardExchangeName(base); // its consistent-hash exchange: declared, bound to, bound from
  const release = releaseOf(queues); // where it gives a batch back uncounted when the database is down
  return {
    configure: [...queues, shards, ...release],
    // its queues (to bind them), its hash exchange (the destination of its binding on sensor_streaming), its
    // queues' release exchanges and the DLX (it dead-letters bad messages itself, with the original key;
    // everything else through REJECTED_EXCHANGE, see BASE). Not the default exchange: that would let an
    // ingester put a message into any queue, a sensor's command queue say (test:security).
    write: [...queues, shards, ...release, DEAD_LETTER_EXCHANGE],
    read: [EXCHANGE, ...queues, shards, ...release],
    publishKeys: `sensor\\.[A-Za-z0-9_-]+\\.${kind}`,
  };
}

function specOf(role: ServiceRole): RoleSpec {
  switch (role) {
    case 'measurements-ingester':
      return ingester('measurements-ingester', 'data');
    case 'logs-ingester':
      return ingester('logs-ingester', 'logs');
    case 'sensor-registry': {
      const qs = [
        'sensor-registry',
        'sensor-registry.expired-commands',
        REGISTRY_RPC_QUEUE,
        REGISTRAR_RPC_QUEUE,
      ];
      // its quorum queues' release exchanges
      const release = releaseOf(['sensor-registry', 'sensor-registry.expired-commands']);
      return {
        configure: [...qs, ...release, CONTROL_ACKS, REGISTRY_TRAFFIC],
        // acks (EXPIRED), reconcile commands, RPC replies (default exchange: direct reply-to needs it)
        write: [
          ...qs,
          ...release,
          CONTROL_ACKS,
          REGISTRY_TRAFFIC,
          EXCHANGE,
          DEAD_LETTER_EXCHANGE,
          'amq.default',
        ],
        read: [...qs, ...release, CONTROL_ACKS, REGISTRY_TRAFFIC, EXCHANGE],
        publishKeys: `sensor\\.[A-Za-z0-9_-]+\\.(state|acks)|${COMMAND_KEYS}`,
      };
    }
    case 'alarm-service': {
      const qs = ['alarm-service', ALARM_RPC_QUEUE];
      const release = releaseOf(['alarm-service']);
      return {
        configure: [...qs, ...release, CONTROL_ACKS],
        // RPC replies through the default exchange (direct reply-to)
        write: [...qs, ...release, CONTROL_ACKS, EXCHANGE, DEAD_LETTER_EXCHANGE, 'amq.default'],
        read: [...qs, ...release, CONTROL_ACKS, EXCHANGE],
        publishKeys: `sensor\\.[A-Za-z0-9_-]+\\.(alarms\\.(raised|cleared)|data|logs)|${COMMAND_KEYS}`,
      };
    }
    case 'sensor-simulator':
      // development fleets: declares and consumes the command queues of its simulated sensors and
      // forwards MQTT topics (amq.topic <-> sensor_streaming)
      return {
        configure: ['/sensor\\.[A-Za-z0-9_-]+\\.commands/', 'amq.topic'],
        write: ['/sensor\\.[A-Za-z0-9_-]+\\.commands/', EXCHANGE, 'amq.topic', DEAD_LETTER_EXCHANGE],
        read: ['/sensor\\.[A-Za-z0-9_-]+\\.commands/', EXCHANGE, 'amq.topic'],
        publishKeys: 'sensor\\.[A-Za-z0-9_-]+\\.(data|logs|state|acks)',
      };
    case 'operator':
      // iotctl: commands (through packages/control), registry and alarm RPC (listings, and ack, shelve,
      // maintenance, which the alarm service grants by user name: ALARM_RPC_GRANTS)
      return {
        configure: [CONTROL_ACKS],
        write: [CONTROL_ACKS, EXCHANGE],
        read: [CONTROL_ACKS, EXCHANGE, DEAD_LETTER_EXCHANGE],
        publishKeys: `${COMMAND_KEYS}|${esc(REGISTRY_RPC_QUEUE)}|${esc(ALARM_RPC_QUEUE)}|${esc(ALARM_RPC_READ_KEY)}`,
      };
    case 'viewer':
      // listings only: the registry's RPC and the alarm service's read-only key (alarm-service.rpc.read);
      // never alarm-service.rpc, where ack, shelve and maintenance go
      return {
        configure: [],
        write: [EXCHANGE],
        read: [],
        publishKeys: `${esc(REGISTRY_RPC_QUEUE)}|${esc(ALARM_RPC_READ_KEY)}`,
      };
    case 'provisioner':
      // iotctl sensors provision / revoke: the registrar RPC only (sensors.register, sensors.revoke). The
      // broker credentials themselves are made through the management API with its own administrator user.
      return {
        configure: [],
        write: [EXCHANGE],
        read: [],
        publishKeys: esc(REGISTRAR_RPC_QUEUE),
      };
  }
}

export function rolePermissions(role: ServiceRole): { permissions: Permissions; topic: TopicPermissions[] } {
  const s = specOf(role);
  // Operators too: packages/bus declares the base topology on every connect (a declare needs configure
  // even when the exchange exists). A bus option not to declare would take that away from them.
  const withBase = BASE;
  const permissions = {
    configure: oneOf(...withBase.configure, ...s.configure),
    write: oneOf(...withBase.write, ...s.write),
    read: oneOf(...withBase.read, ...s.read),
  };
  const topic: TopicPermissions[] = [
    { exchange: EXCHANGE, write: `^(${s.publishKeys})$`, read: '.*' },
    { exchange: DEAD_LETTER_EXCHANGE, write: `^(${s.publishKeys})$`, read: '.*' },
    // amq.topic only for the simulator's MQTT forwarding: nobody else may publish there
    { exchange: 'amq.topic', write: role === 'sensor-simulator' ? `^(${s.publishKeys})$` : '^$', read: '.*' },
  ];
  return { permissions, topic };
}

export interface PlatformDefinitionsOptions {
  vhost: string;
  /** RabbitMQ password hash per role (see rabbitPasswordHash); roles left out get no user. */
  passwordHashes: Partial<Record<ServiceRole, string>>;
}

/** RabbitMQ definitions (users, permissions, topic permissions) for the platform's roles. */
export function platformDefinitions(opts: PlatformDefinitionsOptions): {
  users: unknown[];
  permissions: unknown[];
  topic_permissions: unknown[];
} {
  const roles = SERVICE_ROLES.filter((r) => opts.passwordHashes[r] !== undefined);
  return {
    users: roles.map((r) => ({
      name: roleUser(r),
      password_hash: opts.passwordHashes[r],
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: '',
    })),
    permissions: roles.map((r) => ({
      user: roleUser(r),
      vhost: opts.vhost,
      ...rolePermissions(r).permissions,
    })),
    topic_permissions: roles.flatMap((r) =>
      rolePermissions(r).topic.map((t) => ({ user: roleUser(r), vhost: opts.vhost, ...t })),
    ),
  };
}
