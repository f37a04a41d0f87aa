import { commandQueue, queueDeclareOptions } from '@sensor-streaming/bus';
import { deviceCommandQueues } from '@sensor-streaming/control';
import { assertSerial, EXCHANGE } from '@sensor-streaming/protocol';
import { devicePermissions, deviceTopicPermissions } from './device-permissions.js';
import { IdentityError } from './identity-error.js';
import { generateSecret, rabbitPasswordHash } from './password-hash.js';

export interface BrokerAdminOptions {
  /** RabbitMQ management API, credentials in the URL: http://user:pass@host:15672 */
  managementUrl: string;
  /** The vhost the devices live in. */
  vhost: string;
  /** Devices imported per definitions request. Default 1000. */
  chunkSize?: number;
}

export type DeviceTransport = 'mqtt' | 'amqp';

export interface DeviceRequest {
  serial: string;
  /**
   * amqp: also declare its command queue `sensor.<serial>.commands` (an AMQP
   * device may not configure). mqtt (default): the MQTT plugin makes the
   * session queue when the device first subscribes.
   */
  transport?: DeviceTransport;
  /** x-message-ttl of an AMQP device's command queue; must match the simulator's COMMAND_TTL_MS. */
  commandTtlMs?: number;
}

/** A provisioned device's credential. The secret is shown once and stored nowhere in clear. */
export interface DeviceCredential {
  serial: string;
  /** The broker user name: the serial. */
  username: string;
  /** What to put in MQTT CONNECT's user name on RabbitMQ: `<vhost>:<serial>` unless the vhost is `/`. */
  mqttUsername: string;
  secret: string;
}

export interface BrokerAdmin {
  /** Creates each device's broker user, permissions and topic permissions; refuses serials already provisioned. */
  provision(
    devices: readonly DeviceRequest[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<DeviceCredential[]>;
  /** A new secret for a provisioned device; its live connections are closed (they used the old one). */
  rotate(serial: string): Promise<DeviceCredential>;
  /**
   * Deletes the device's user, closes its connections and deletes its command
   * queues (commands to it are then UNROUTABLE). Returns whether it existed.
   */
  revoke(serial: string): Promise<boolean>;
  isProvisioned(serial: string): Promise<boolean>;
}

const DEFAULT_COMMAND_TTL_MS = 3_600_000;

export function createBrokerAdmin(opts: BrokerAdminOptions): BrokerAdmin {
  let base: URL;
  try {
    base = new URL(opts.managementUrl);
  } catch {
    throw new IdentityError(
      'IDENTITY_BAD_INPUT',
      `management URL ${JSON.stringify(opts.managementUrl)} is not a URL`,
    );
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new IdentityError('IDENTITY_BAD_INPUT', 'management URL must be http:// or https://');
  const authorization = `Basic ${Buffer.from(
    `${decodeURIComponent(base.username || 'guest')}:${decodeURIComponent(base.password || 'guest')}`,
  ).toString('base64')}`;
  base.username = '';
  base.password = '';
  const root = base.toString().replace(/\/$/, '');
  const vhost = opts.vhost;
  const v = encodeURIComponent(vhost);
  const chunkSize = opts.chunkSize ?? 1000;

  async function api(
    method: string,
    path: string,
    body?: unknown,
    okStatuses: number[] = [],
  ): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${root}/api${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new IdentityError(
        'IDENTITY_BROKER_UNREACHABLE',
        `RabbitMQ management API at ${root} unreachable: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const text = await res.text();
    if (!res.ok && !okStatuses.includes(res.status)) {
      const hint =
        res.status === 401 || res.status === 403
          ? ' (the management user needs the administrator tag, or policymaker to set permissions)'
          : '';
      throw new IdentityError(
        'IDENTITY_BROKER_REFUSED',
        `RabbitMQ refused ${method} ${path}: ${res.status} ${text.slice(0, 200)}${hint}`,
      );
    }
    return text === '' || !res.ok ? undefined : JSON.parse(text);
  }

  const credential = (serial: string, secret: string): DeviceCredential => ({
    serial,
    username: serial,
    mqttUsername: vhost === '/' ? serial : `${vhost}:${serial}`,
    secret,
  });

  async function isProvisioned(serial: string): Promise<boolean> {
    assertSerial(serial, 'serial');
    const user = await api('GET', `/users/${encodeURIComponent(serial)}`, undefined, [404]);
    return user !== undefined;
  }

  async function existingUsers(): Promise<Set<string>> {
    const users = (await api('GET', '/users?columns=name')) as Array<{ name: string }>;
    return new Set(users.map((u) => u.name));
  }

  function definitions(
    devices: readonly DeviceRequest[],
    creds: DeviceCredential[],
  ): Record<string, unknown> {
    const topic = deviceTopicPermissions();
    const queues: unknown[] = [];
    const bindings: unknown[] = [];
    for (const d of devices) {
      if (d.transport !== 'amqp') continue;
      const spec = commandQueue(d.serial, d.commandTtlMs ?? DEFAULT_COMMAND_TTL_MS);
      const o = queueDeclareOptions(spec);
      queues.push({ name: spec.name, vhost, durable: true, auto_delete: false, arguments: o.arguments });
      for (const key of spec.bindings)
        bindings.push({
          source: EXCHANGE,
          vhost,
          destination: spec.name,
          destination_type: 'queue',
          routing_key: key,
          arguments: {},
        });
    }
    return {
      users: creds.map((c) => ({
        name: c.username,
        password_hash: rabbitPasswordHash(c.secret),
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: '',
      })),
      permissions: creds.map((c) => ({ user: c.username, vhost, ...devicePermissions(c.serial) })),
      topic_permissions: creds.flatMap((c) => topic.map((t) => ({ user: c.username, vhost, ...t }))),
      queues,
      bindings,
    };
  }

  return {
    isProvisioned,
    async provision(devices, onProgress) {
      const seen = new Set<string>();
      for (const [i, d] of devices.entries()) {
        try {
          assertSerial(d.serial, `devices[${i}].serial`);
        } catch (err) {
          throw new IdentityError('IDENTITY_BAD_INPUT', err instanceof Error ? err.message : String(err));
        }
        if (seen.has(d.serial))
          throw new IdentityError('IDENTITY_BAD_INPUT', `serial ${d.serial} appears twice`);
        seen.add(d.serial);
      }
      const existing = devices.length === 1 ? undefined : await existingUsers();
      const already = devices
        .map((d) => d.serial)
        .filter((s) => (existing === undefined ? false : existing.has(s)));
      if (existing === undefined && devices.length === 1 && (await isProvisioned(devices[0]!.serial)))
        already.push(devices[0]!.serial);
      if (already.length > 0)
        throw new IdentityError(
          'IDENTITY_ALREADY_PROVISIONED',
          `${already.length} device(s) already provisioned (${already.slice(0, 5).join(', ')}${already.length > 5 ? ', ...' : ''}); use rotate for a new secret, or revoke first`,
        );
      await api('GET', `/vhosts/${v}`).catch((err: unknown) => {
        if (err instanceof IdentityError && err.message.includes(': 404 '))
          throw new IdentityError('IDENTITY_BAD_INPUT', `vhost ${JSON.stringify(vhost)} does not exist`);
        throw err;
      });
      const out: DeviceCredential[] = [];
      for (let i = 0; i < devices.length; i += chunkSize) {
        const chunk = devices.slice(i, i + chunkSize);
        const creds = chunk.map((d) => credential(d.serial, generateSecret()));
        await api('POST', '/definitions', definitions(chunk, creds));
        out.push(...creds);
        onProgress?.(out.length, devices.length);
      }
      return out;
    },
    async rotate(serial) {
      if (!(await isProvisioned(serial)))
        throw new IdentityError('IDENTITY_NOT_PROVISIONED', `device ${serial} is not provisioned`);
      const cred = credential(serial, generateSecret());
      await api('PUT', `/users/${encodeURIComponent(serial)}`, {
        password_hash: rabbitPasswordHash(cred.secret),
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: '',
      });
      await api('DELETE', `/connections/username/${encodeURIComponent(serial)}`, undefined, [404]);
      return cred;
    },
    async revoke(serial) {
      const existed = await isProvisioned(serial);
      if (existed) await api('DELETE', `/users/${encodeURIComponent(serial)}`, undefined, [404]);
      // Deleting a user does not close its connections in RabbitMQ 3.10: close them.
      await api('DELETE', `/connections/username/${encodeURIComponent(serial)}`, undefined, [404]);
      for (const q of deviceCommandQueues(serial))
        await api('DELETE', `/queues/${v}/${encodeURIComponent(q)}`, undefined, [404]);
      return existed;
    },
  };
}
