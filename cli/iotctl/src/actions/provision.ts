import { open, readFile } from 'node:fs/promises';
import {
  createBrokerAdmin,
  type DeviceCredential,
  type DeviceRequest,
  type DeviceTransport,
  isIdentityError,
} from '@sensor-streaming/identity';
import {
  ControlError,
  createRegistrarClient,
  parseLabelArg,
  parseLabels,
  parseSensorKind,
  type SensorRegistration,
} from '@sensor-streaming/control';
import { isValidSerial } from '@sensor-streaming/protocol';
import type { Command } from 'commander';
import { CliError, EXIT_OK, UsageError } from '../cli-error.js';
import { type Context, withSession } from '../context.js';
import { json } from '../format/text.js';
import type { Io } from '../io.js';

/*
 * `iotctl sensors provision | rotate | revoke`: device identities on the broker
 * (see docs/identity.md). The credential is made through RabbitMQ's management
 * API (a broker user confined to its own topics); provision and revoke also
 * tell the registry (sensors.register / sensors.revoke on its registrar queue),
 * which closed registration admits serials from. `--no-register` skips that.
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

/** A device of devices.csv: its credential request and its registration. */
export type CsvDevice = DeviceRequest & { registration: SensorRegistration };

/** Runs a contract validator; its ControlError (which names the field) becomes a usage error (exit 2). */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ControlError) throw new UsageError(err.message);
    throw err;
  }
}

/** `--label k=v` values into labels (each validated, no key twice). */
export function parseLabelFlags(raw: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of raw) {
    const [k, v] = usage(() => parseLabelArg(l));
    if (k in labels) throw new UsageError(`--label: key ${k} given twice`);
    labels[k] = v;
  }
  return usage(() => parseLabels(labels, '--label'));
}

/** `k=v;k2=v2` (the labels column of devices.csv). */
function parseLabelCell(cell: string, where: string): Record<string, string> {
  if (cell === '') return {};
  const labels: Record<string, string> = {};
  for (const part of cell.split(';')) {
    const [k, v] = usage(() => parseLabelArg(part.trim(), `${where}: labels`));
    if (k in labels) throw new UsageError(`${where}: label ${k} given twice`);
    labels[k] = v;
  }
  return usage(() => parseLabels(labels, `${where}: labels`));
}

/**
 * devices.csv: a header with a `serial` column and optionally `transport`, `kind` and `labels`
 * (`key=value;key2=value2`); other columns are ignored.
 */
export function parseDevicesCsv(text: string, file: string, fallback: DeviceTransport): CsvDevice[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const serialCol = header.indexOf('serial');
  const transportCol = header.indexOf('transport');
  const kindCol = header.indexOf('kind');
  const labelsCol = header.indexOf('labels');
  if (serialCol < 0) throw new UsageError(`${file}: line 1 must be a header with a "serial" column`);
  const out: CsvDevice[] = [];
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
    const registration: SensorRegistration = { serial };
    const kind = kindCol < 0 ? '' : (cells[kindCol] ?? '');
    if (kind !== '') registration.kind = usage(() => parseSensorKind(kind, `${file}: line ${i + 1}: kind`));
    const labels = parseLabelCell(labelsCol < 0 ? '' : (cells[labelsCol] ?? ''), `${file}: line ${i + 1}`);
    if (Object.keys(labels).length > 0) registration.labels = labels;
    out.push({ serial, transport: t, registration });
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

async function tellRegistry<T>(
  ctx: Context,
  fn: (registrar: ReturnType<typeof createRegistrarClient>) => Promise<T>,
): Promise<T> {
  return withSession(ctx, {}, async (s) =>
    fn(createRegistrarClient(s.bus, { timeoutMs: Math.max(ctx.session.rpcTimeoutMs, 30_000) })),
  );
}

export function registerProvisioning(
  sensors: Command,
  io: Io,
  setExit: (code: number) => void,
  contextOf: (cmd: Command) => Promise<Context>,
): void {
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
      .option('--transport <mqtt|amqp>', 'amqp also declares the device command queue', 'mqtt')
      .option('--kind <kind>', 'the sensor kind: vibration, environment or process')
      .option(
        '--label <key=value>',
        'a label (repeatable), e.g. --label site=north',
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      )
      .option('--no-register', 'only the broker credential: do not register the sensor with the registry'),
  );
  provision.action(
    async (
      serial: string | undefined,
      flags: AdminFlags & {
        from?: string;
        secretsOut?: string;
        transport?: string;
        kind?: string;
        label: string[];
        register: boolean;
      },
    ) => {
      const transport = parseTransport(flags.transport);
      if ((serial === undefined) === (flags.from === undefined))
        throw new UsageError('give a serial or --from <devices.csv>, not both');
      const admin = adminFor(flags, io);
      if (serial !== undefined) {
        if (flags.secretsOut !== undefined) throw new UsageError('--secrets-out goes with --from');
        const s = parseSerial(serial, 'serial');
        const registration: SensorRegistration = { serial: s };
        if (flags.kind !== undefined) registration.kind = usage(() => parseSensorKind(flags.kind, '--kind'));
        const labels = parseLabelFlags(flags.label);
        if (Object.keys(labels).length > 0) registration.labels = labels;
        // the registry first: if it cannot answer, no credential exists for a sensor it would refuse
        if (flags.register) {
          const ctx = await contextOf(provision);
          await tellRegistry(ctx, (r) => r.register([registration]));
        }
        const [cred] = await guarded(() => admin.provision([{ serial: s, transport }]));
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
      if (flags.kind !== undefined || flags.label.length > 0)
        throw new UsageError('with --from, give kind and labels as columns of the CSV file');
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
        if (flags.register) {
          const ctx = await contextOf(provision);
          await tellRegistry(ctx, (r) =>
            r.register(
              devices.map((d) => d.registration),
              (done, total) => io.stderr.write(`registered ${done}/${total}\n`),
            ),
          );
        }
        const creds = await guarded(() =>
          admin.provision(
            devices.map(({ registration: _, ...request }) => request),
            (done, total) => {
              io.stderr.write(`provisioned ${done}/${total}\n`);
            },
          ),
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
      .description(
        "delete a device's credential, close its connections and delete its command queues; the registry marks it revoked (its data is kept)",
      )
      .argument('<serial>')
      .option('--no-register', 'only the broker credential: do not mark the sensor revoked in the registry'),
  );
  revoke.action(async (serial: string, flags: AdminFlags & { register: boolean }) => {
    const admin = adminFor(flags, io);
    const s = parseSerial(serial, 'serial');
    // the broker first: the device is cut off even if the registry cannot answer
    const existed = await guarded(() => admin.revoke(s));
    let registryRevoked: boolean | undefined;
    if (flags.register) {
      const ctx = await contextOf(revoke);
      registryRevoked = (await tellRegistry(ctx, (r) => r.revoke([s]))).revoked.includes(s);
    }
    if (flags.json)
      io.stdout.write(
        json({ serial: s, revoked: existed, ...(registryRevoked === undefined ? {} : { registryRevoked }) }),
      );
    else
      io.stdout.write(
        existed ? `revoked ${s}\n` : `${s} had no credential (queues and connections cleaned up anyway)\n`,
      );
    if (!existed && registryRevoked !== true)
      throw new CliError('IDENTITY_NOT_PROVISIONED', `device ${s} is not provisioned`);
    setExit(EXIT_OK);
  });
}
