import { open, readFile } from 'node:fs/promises';
import {
  createBrokerAdmin,
  type DeviceCredential,
  type DeviceRequest,
  type DeviceTransport,
  isIdentityError,
} from '@sensor-streaming/identity';
import { isValidSerial } from '@sensor-streaming/protocol';
import type { Command } from 'commander';
import { CliError, EXIT_OK, UsageError } from '../cli-error.js';
import { json } from '../format/text.js';
import type { Io } from '../io.js';

/*
 * `iotctl sensors provision | rotate | revoke`: device identities on the broker
 * (see docs/identity.md). They talk to RabbitMQ's management API, not to the
 * registry: a device's credential is a broker user confined to its own topics.
 */

interface AdminFlags {
  managementUrl?: string;
  vhost?: string;
  json?: boolean;
}

const DEFAULT_MANAGEMENT_URL = 'http://guest:guest@127.0.0.1:15672';

/** The vhost of the AMQP URL (the one the platform runs in), else `/`. */
function vhostOf(env: NodeJS.ProcessEnv): string {
  try {
    const path = new URL(env.AMQP_URL ?? 'amqp://localhost').pathname.slice(1);
    return path === '' ? '/' : decodeURIComponent(path);
  } catch {
    return '/';
  }
}

function adminFor(flags: AdminFlags, io: Io) {
  const managementUrl = flags.managementUrl ?? io.env.RABBITMQ_MANAGEMENT_URL ?? DEFAULT_MANAGEMENT_URL;
  const vhost = flags.vhost ?? vhostOf(io.env);
  try {
    return createBrokerAdmin({ managementUrl, vhost });
  } catch (err) {
    throw asCliError(err);
  }
}

function asCliError(err: unknown): unknown {
  if (!isIdentityError(err)) return err;
  return err.code === 'IDENTITY_BAD_INPUT'
    ? new UsageError(err.message)
    : new CliError(err.code, err.message);
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asCliError(err);
  }
}

function parseTransport(raw: string | undefined): DeviceTransport {
  if (raw === undefined || raw === 'mqtt') return 'mqtt';
  if (raw === 'amqp') return 'amqp';
  throw new UsageError(`--transport must be mqtt or amqp, got ${JSON.stringify(raw)}`);
}

function parseSerial(raw: string, where: string): string {
  if (!isValidSerial(raw))
    throw new UsageError(`${where}: invalid serial ${JSON.stringify(raw)} (allowed: [A-Za-z0-9_-]{1,64})`);
  return raw;
}

/** devices.csv: a header with a `serial` column (and optionally `transport`); other columns are ignored. */
export function parseDevicesCsv(text: string, file: string, fallback: DeviceTransport): DeviceRequest[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const serialCol = header.indexOf('serial');
  const transportCol = header.indexOf('transport');
  if (serialCol < 0) throw new UsageError(`${file}: line 1 must be a header with a "serial" column`);
  const out: DeviceRequest[] = [];
  const seen = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (i === 0 || line.trim() === '') continue;
    const cells = line.split(',').map((c) => c.trim());
    const serial = parseSerial(cells[serialCol] ?? '', `${file}: line ${i + 1}`);
    if (seen.has(serial)) throw new UsageError(`${file}: line ${i + 1}: serial ${serial} appears twice`);
    seen.add(serial);
    const t = transportCol < 0 || !cells[transportCol] ? fallback : cells[transportCol];
    if (t !== 'mqtt' && t !== 'amqp')
      throw new UsageError(
        `${file}: line ${i + 1}: transport must be mqtt or amqp, got ${JSON.stringify(t)}`,
      );
    out.push({ serial, transport: t });
  }
  if (out.length === 0) throw new UsageError(`${file}: no devices`);
  return out;
}

function showCredential(io: Io, c: DeviceCredential, verb: string): void {
  io.stdout.write(
    `${verb} ${c.serial}\n` +
      `  user name (AMQP): ${c.username}\n` +
      `  user name (MQTT): ${c.mqttUsername}   client id: ${c.serial}\n` +
      `  secret:           ${c.secret}\n` +
      'The secret is shown once and stored nowhere in clear: put it on the device now.\n',
  );
}

export function registerProvisioning(sensors: Command, io: Io, setExit: (code: number) => void): void {
  const common = (cmd: Command): Command =>
    cmd
      .option(
        '--management-url <url>',
        `RabbitMQ management API (default: $RABBITMQ_MANAGEMENT_URL, else ${DEFAULT_MANAGEMENT_URL})`,
      )
      .option('--vhost <vhost>', "the platform's vhost (default: the vhost of $AMQP_URL, else /)")
      .option('--json', 'print JSON');

  const provision = common(
    sensors
      .command('provision')
      .description('create device credentials (the secret is printed once)')
      .argument('[serial]', 'the device serial')
      .option('--from <devices.csv>', 'provision every device of a CSV file (header with a "serial" column)')
      .option(
        '--secrets-out <file>',
        'with --from: where to write the secrets (created 0600, never overwritten)',
      )
      .option('--transport <mqtt|amqp>', 'amqp also declares the device command queue', 'mqtt'),
  );
  provision.action(
    async (
      serial: string | undefined,
      flags: AdminFlags & { from?: string; secretsOut?: string; transport?: string },
    ) => {
      const transport = parseTransport(flags.transport);
      if ((serial === undefined) === (flags.from === undefined))
        throw new UsageError('give a serial or --from <devices.csv>, not both');
      const admin = adminFor(flags, io);
      if (serial !== undefined) {
        if (flags.secretsOut !== undefined) throw new UsageError('--secrets-out goes with --from');
        const [cred] = await guarded(() =>
          admin.provision([{ serial: parseSerial(serial, 'serial'), transport }]),
        );
        if (flags.json) io.stdout.write(json(cred));
        else showCredential(io, cred!, 'provisioned');
        setExit(EXIT_OK);
        return;
      }
      const file = flags.from!;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const devices = parseDevicesCsv(text, file, transport);
      const out = flags.secretsOut ?? `device-secrets-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
      // Created before any device exists, 0600, refusing to overwrite: a failure here provisions nothing.
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(out, 'wx', 0o600);
      } catch (err) {
        throw new UsageError(`cannot create ${out}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const started = Date.now();
      try {
        await handle.write('serial,username,password\n');
        const creds = await guarded(() =>
          admin.provision(devices, (done, total) => {
            io.stderr.write(`provisioned ${done}/${total}\n`);
          }),
        );
        await handle.write(creds.map((c) => `${c.serial},${c.mqttUsername},${c.secret}\n`).join(''));
        const seconds = (Date.now() - started) / 1000;
        if (flags.json) io.stdout.write(json({ provisioned: creds.length, secretsFile: out, seconds }));
        else
          io.stdout.write(
            `provisioned ${creds.length} devices in ${seconds.toFixed(1)} s; secrets in ${out} (mode 0600): move it to the factory and delete it\n`,
          );
        setExit(EXIT_OK);
      } finally {
        await handle.close();
      }
    },
  );

  const rotate = common(
    sensors
      .command('rotate')
      .description("replace a device's secret (its live connections are closed)")
      .argument('<serial>'),
  );
  rotate.action(async (serial: string, flags: AdminFlags) => {
    const admin = adminFor(flags, io);
    const cred = await guarded(() => admin.rotate(parseSerial(serial, 'serial')));
    if (flags.json) io.stdout.write(json(cred));
    else showCredential(io, cred, 'rotated');
    setExit(EXIT_OK);
  });

  const revoke = common(
    sensors
      .command('revoke')
      .description("delete a device's credential, close its connections and delete its command queues")
      .argument('<serial>'),
  );
  revoke.action(async (serial: string, flags: AdminFlags) => {
    const admin = adminFor(flags, io);
    const s = parseSerial(serial, 'serial');
    const existed = await guarded(() => admin.revoke(s));
    if (flags.json) io.stdout.write(json({ serial: s, revoked: existed }));
    else
      io.stdout.write(
        existed ? `revoked ${s}\n` : `${s} had no credential (queues and connections cleaned up anyway)\n`,
      );
    if (!existed) throw new CliError('IDENTITY_NOT_PROVISIONED', `device ${s} is not provisioned`);
    setExit(EXIT_OK);
  });
}
