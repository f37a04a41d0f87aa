import { createRequire } from 'node:module';
import type { AlarmListParams, CommandRequest, SensorFilter } from '@sensor-streaming/control';
import type { CommandType } from '@sensor-streaming/protocol';
import { Command, CommanderError, Option } from 'commander';
import { registerAlarmManagement } from './actions/alarm-management.js';
import { registerDeadLetterCommands } from './actions/dead-letters.js';
import { registerProvisioning } from './actions/provision.js';
import { registerRulesTest } from './actions/rules-test.js';
import { EXIT_OK, EXIT_USAGE, reportError, UsageError } from './cli-error.js';
import type { Context } from './context.js';
import { decideColor } from './format/text.js';
import { type Io, processIo } from './io.js';

/**
 * The option parsers and the platform's validators (which come with the bus, amqplib and protobufjs) load with
 * the first command that runs, never for `--help` or `--version`: the CLI starts like a shell tool.
 */
async function parsers() {
  const [options, control] = await Promise.all([import('./options.js'), import('@sensor-streaming/control')]);
  return {
    ...options,
    assertAlarmId: control.assertAlarmId,
    parseSeverity: control.parseSeverity,
    DEFAULT_ACK_TIMEOUT_MS: control.DEFAULT_ACK_TIMEOUT_MS,
  };
}
type Parsers = Awaited<ReturnType<typeof parsers>>;

/** Documented in --help; the value itself comes from @sensor-streaming/control (DEFAULT_ACK_TIMEOUT_MS). */
const ACK_TIMEOUT_HELP = 'how long to wait for each ack in ms (default 5000)';

interface GlobalOptions {
  amqpUrl?: string;
  connectTimeout: string;
  rpcTimeout: string;
  color: boolean;
  verbose?: boolean;
}

/** The bundle has the version built in (build/bundle.mjs); from the sources it is read from package.json. */
function version(): string {
  const bundled = process.env.IOTCTL_BUNDLED_VERSION;
  if (bundled !== undefined) return bundled;
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Builds the context of one command run from the global options (validated here: usage errors exit 2). */
function contextFor(cmd: Command, io: Io, p: Parsers): Context {
  const { parseAmqpUrl, parseTls, ISSUED_BY_HINT } = p;
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const amqpUrl = parseAmqpUrl(g.amqpUrl, io.env);
  const tls = parseTls(io.env, amqpUrl);
  const connectTimeoutMs = p.parseMs('--connect-timeout', g.connectTimeout, 1, 600_000);
  const rpcTimeoutMs = p.parseMs('--rpc-timeout', g.rpcTimeout, 1, 600_000);
  const log = g.verbose === true ? (line: string) => void io.stderr.write(`${line}\n`) : undefined;
  const session = {
    amqpUrl,
    connectTimeoutMs,
    rpcTimeoutMs,
    ...(log === undefined ? {} : { log }),
    ...(tls === undefined ? {} : { tls }),
  };
  return {
    io,
    style: { color: decideColor(g.color, io.stdout.isTTY, io.env) },
    issuedBy: ISSUED_BY_HINT,
    session,
    // the bus, amqplib and the clients load only for commands that talk to the broker
    connect: async (o = {}) => (await import('./session.js')).openSession({ ...session, ...o }),
    nowMs: () => Date.now(),
  };
}

interface StatusFlags {
  refresh: string;
  timeout?: string;
  json?: boolean;
  sort: string;
  reverse?: boolean;
  kind?: string;
  state?: string;
  selector?: string;
  search?: string;
}

interface CommandFlags {
  sensor: string[];
  all?: boolean;
  selector?: string;
  timeout?: string;
  ttl?: string;
  wait: boolean;
  json?: boolean;
  hz?: string;
  concurrency?: string;
}

function addCommand(
  program: Command,
  io: Io,
  type: CommandType,
  description: string,
  setExit: (n: number) => void,
) {
  const cmd = program
    .command(type)
    .description(description)
    .argument('[serial...]', 'sensor serials')
    .option('-s, --sensor <serial>', 'a target sensor (repeatable)', collect, [])
    .option('--all', 'every sensor the registry knows')
    .option('--selector <selector>', 'sensors whose labels match, e.g. kind=vibration,site=north')
    .option('--timeout <ms>', ACK_TIMEOUT_HELP)
    .option('--ttl <ms>', 'command time to live: it expires unapplied after this (default 60000)')
    .option('--no-wait', 'only publish (exit 0 once the broker confirmed every command)')
    .option('--concurrency <n>', 'commands outstanding at once over many sensors (default 500)')
    .option('--json', 'print the outcomes as JSON');
  if (type === 'changesamplefrequency') {
    cmd.addOption(new Option('--hz <n>', 'new sample frequency in Hz').conflicts('f'));
    cmd.addOption(new Option('-f <n>', 'same as --hz').hideHelp());
  }
  cmd.action(async (positional: string[], flags: CommandFlags & { f?: string }) => {
    const p = await parsers();
    const ctx = contextFor(cmd, io, p);
    const targets = p.parseTargets({
      positional,
      sensor: flags.sensor,
      all: flags.all,
      selector: flags.selector,
    });
    const request: CommandRequest =
      type === 'changesamplefrequency'
        ? { type, sampleFrequencyHz: p.parseHz(flags.hz ?? flags.f) }
        : { type };
    const timeoutMs =
      flags.timeout === undefined
        ? p.DEFAULT_ACK_TIMEOUT_MS
        : p.parseMs('--timeout', flags.timeout, 1, 3_600_000);
    const ttlMs = flags.ttl === undefined ? undefined : p.parseMs('--ttl', flags.ttl, 1, 7 * 24 * 3_600_000);
    setExit(
      await (await import('./actions/send-command.js')).sendCommand(ctx, {
        request,
        targets,
        wait: flags.wait,
        timeoutMs,
        ...(ttlMs === undefined ? {} : { ttlMs }),
        ...(flags.concurrency === undefined
          ? {}
          : { concurrency: p.parseLimit('--concurrency', flags.concurrency, 10_000) }),
        json: flags.json === true,
      }),
    );
  });
}

/** The commander program; `setExit` receives each action's exit code. */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('iotctl')
    .description('Operate the sensor-streaming fleet: sensors, commands, status and alarms')
    .version(version())
    .option('--amqp-url <url>', 'RabbitMQ URL (default: $AMQP_URL, else amqp://guest:guest@127.0.0.1:5672)')
    .option('--connect-timeout <ms>', 'give up connecting to the broker after this long', '5000')
    .option('--rpc-timeout <ms>', 'how long to wait for the registry or the alarm service', '5000')
    .option('--no-color', 'no colors (also off when stdout is not a terminal, or NO_COLOR is set)')
    .option('--verbose', 'bus diagnostics on stderr')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`iotctl: ${s.replace(/^error: /, '')}`),
    });

  addCommand(program, io, 'sleep', 'put sensors to sleep (they stop sampling, stay connected)', setExit);
  addCommand(program, io, 'awake', 'wake sensors (they resume at their current frequency)', setExit);
  addCommand(program, io, 'changesamplefrequency', 'change the sample frequency (--hz <n>)', setExit);

  const sensors = program.command('sensors').description('the registered sensors');
  registerProvisioning(sensors, io, setExit, async (cmd) => contextFor(cmd, io, await parsers()));
  const list = sensors
    .command('list')
    .description('list sensors')
    .option('--kind <kind>', 'only this kind')
    .option('--state <state>', 'only awake, asleep or offline')
    .option('--online', 'only online sensors')
    .option('--offline', 'only offline sensors')
    .option('--selector <selector>', 'label selector, e.g. site=north,machine=crane-1')
    .option('--limit <n>', 'at most this many')
    .option('--json', 'print JSON');
  list.action(
    async (flags: {
      kind?: string;
      state?: string;
      online?: boolean;
      offline?: boolean;
      selector?: string;
      limit?: string;
      json?: boolean;
    }) => {
      const p = await parsers();
      const ctx = contextFor(list, io, p);
      if (flags.online && flags.offline) throw new UsageError('give --online or --offline, not both');
      const filter: SensorFilter = {};
      if (flags.kind !== undefined) filter.kind = p.parseKind(flags.kind);
      if (flags.state !== undefined) filter.state = p.parseState(flags.state);
      if (flags.online) filter.online = true;
      if (flags.offline) filter.online = false;
      if (flags.selector !== undefined) filter.selector = p.parseSelectorFlag(flags.selector);
      if (flags.limit !== undefined) filter.limit = p.parseLimit('--limit', flags.limit, 100_000);
      const { listSensors } = await import('./actions/sensors.js');
      setExit(await listSensors(ctx, filter, flags.json === true));
    },
  );
  const show = sensors
    .command('show')
    .description('one sensor with its recent commands')
    .argument('<serial>')
    .option('--commands <n>', 'recent commands shown', '10')
    .option('--json', 'print JSON');
  show.action(async (serial: string, flags: { commands: string; json?: boolean }) => {
    const p = await parsers();
    const ctx = contextFor(show, io, p);
    const [s] = p.parseSerials([serial]);
    const { showSensor } = await import('./actions/sensors.js');
    setExit(await showSensor(ctx, s!, p.parseLimit('--commands', flags.commands, 1000), flags.json === true));
  });

  const history = program
    .command('commands')
    .description('the command history of a sensor')
    .argument('<serial>')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'print JSON');
  history.action(async (serial: string, flags: { limit: string; json?: boolean }) => {
    const p = await parsers();
    const ctx = contextFor(history, io, p);
    const [s] = p.parseSerials([serial]);
    const { commandHistory } = await import('./actions/sensors.js');
    setExit(await commandHistory(ctx, s!, p.parseLimit('--limit', flags.limit, 10_000), flags.json === true));
  });

  const statusCmd = program
    .command('status')
    .description('live view of the fleet (a plain table when stdout is not a terminal)')
    .option('--refresh <ms>', 'refresh interval', '1000')
    .option('--timeout <ms>', 'how long to wait for the ack of a command sent from the view (default 5000)')
    .option('--sort <key>', 'sort by serial, kind, state, data (last data) or alarms', 'serial')
    .option('--reverse', 'reverse the sort')
    .option('--kind <kind>', 'only this kind')
    .option('--state <state>', 'only awake, asleep or offline')
    .option('--selector <key=value>', 'only sensors with this label')
    .option('--search <text>', 'only sensors whose serial, kind or labels contain this')
    .option('--json', 'print one JSON snapshot');
  statusCmd.action(async (flags: StatusFlags) => {
    const p = await parsers();
    const ctx = contextFor(statusCmd, io, p);
    const { status } = await import('./actions/status.js');
    setExit(
      await status(ctx, {
        refreshMs: p.parseMs('--refresh', flags.refresh, 100, 3_600_000),
        timeoutMs:
          flags.timeout === undefined
            ? p.DEFAULT_ACK_TIMEOUT_MS
            : p.parseMs('--timeout', flags.timeout, 1, 3_600_000),
        json: flags.json === true,
        view: p.parseStatusView(flags),
      }),
    );
  });

  const alarms = program
    .command('alarms')
    .description('active and recent alarms; `alarms ack <id>` acknowledges one')
    .option('--serial <serial>', 'only this sensor')
    .option('--severity <severity>', 'only info, warning, major or critical')
    .option('--rule <rule>', 'only this rule id')
    .option('--active', 'only alarms not cleared yet')
    .option('--limit <n>', 'at most this many', '100')
    .option('--follow', 'then stream new transitions until Ctrl-C')
    .option('--json', 'print JSON (one object per line with --follow)');
  alarms.action(
    async (flags: {
      serial?: string;
      severity?: string;
      rule?: string;
      active?: boolean;
      limit: string;
      follow?: boolean;
      json?: boolean;
    }) => {
      const p = await parsers();
      const ctx = contextFor(alarms, io, p);
      const params: AlarmListParams = { limit: p.parseLimit('--limit', flags.limit, 10_000) };
      if (flags.serial !== undefined) params.serial = p.parseSerials([flags.serial])[0]!;
      if (flags.severity !== undefined) {
        try {
          params.severity = p.parseSeverity(flags.severity, '--severity');
        } catch (err) {
          throw new UsageError(err instanceof Error ? err.message : String(err));
        }
      }
      if (flags.rule !== undefined) {
        if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(flags.rule)) {
          throw new UsageError(
            `--rule must be a rule id (letters, digits, '_', '.', '-'), got ${JSON.stringify(flags.rule)}`,
          );
        }
        params.rule = flags.rule;
      }
      if (flags.active) params.active = true;
      const { listAlarms } = await import('./actions/alarms.js');
      setExit(await listAlarms(ctx, { params, json: flags.json === true, follow: flags.follow === true }));
    },
  );
  const ack = alarms
    .command('ack')
    .description('acknowledge an alarm')
    .argument('<alarm-id>')
    .option('--json', 'print JSON');
  ack.action(async (id: string, flags: { json?: boolean }) => {
    const p = await parsers();
    const ctx = contextFor(ack, io, p);
    let alarmId: string;
    try {
      alarmId = p.assertAlarmId(id, 'alarm id');
    } catch (err) {
      throw new UsageError(
        err instanceof Error ? err.message.replace(/^alarm id: /, 'alarm id ') : String(err),
      );
    }
    // `alarms` has its own --json, which commander gives to the parent when it follows `ack <id>`
    const asJson = flags.json === true || alarms.opts<{ json?: boolean }>().json === true;
    const { ackAlarm } = await import('./actions/alarms.js');
    setExit(await ackAlarm(ctx, alarmId, asJson));
  });
  // Commands registered by their own modules get the context with the parsers loaded on first use.
  const lazyContext = async (cmd: Command) => contextFor(cmd, io, await parsers());
  registerAlarmManagement(alarms, sensors, lazyContext, setExit);
  registerRulesTest(program, lazyContext, setExit);
  registerDeadLetterCommands(program, lazyContext, setExit);

  const logs = program
    .command('logs')
    .description("the sensors' logs (stored, then live with -f)")
    .argument('[serial...]', 'sensor serials')
    .option('--selector <selector>', 'sensors whose labels match, e.g. kind=vibration,site=north')
    .option('-f, --follow', 'then print new entries as they arrive, until Ctrl-C')
    .option('--level <level>', 'this level and above: debug, info, warn, error')
    .option('--code <code>', 'only this error code')
    .option('--since <when>', 'entries since a duration ago (30s, 10m, 2h, 1d) or an ISO time')
    .option('--limit <n>', 'the newest n stored entries (default 100, 10 with -f)')
    .option('--json', 'one JSON object per entry');
  logs.action(
    async (
      positional: string[],
      flags: {
        selector?: string;
        follow?: boolean;
        level?: string;
        code?: string;
        since?: string;
        limit?: string;
        json?: boolean;
      },
    ) => {
      const p = await parsers();
      const ctx = contextFor(logs, io, p);
      const targets = p.parseTargets({ positional, selector: flags.selector });
      if (targets.kind === 'all') throw new UsageError('name the sensors: <serial...> or --selector');
      const { showLogs } = await import('./actions/logs.js');
      setExit(
        await showLogs(ctx, {
          targets,
          follow: flags.follow === true,
          json: flags.json === true,
          ...(flags.level === undefined ? {} : { minLevel: p.parseLevel(flags.level) }),
          ...(flags.code === undefined ? {} : { errorCode: p.parseErrorCode(flags.code) }),
          ...(flags.since === undefined ? {} : { since: p.parseSince(flags.since, ctx.nowMs()) }),
          ...(flags.limit === undefined ? {} : { limit: p.parseLimit('--limit', flags.limit, 10_000) }),
        }),
      );
    },
  );

  const tailCmd = program
    .command('tail')
    .description("a sensor's live samples, one line each, until Ctrl-C")
    .argument('<serial>')
    .option('--channel <channel>', 'only this channel')
    .option('--json', 'one JSON object per sample');
  tailCmd.action(async (serial: string, flags: { channel?: string; json?: boolean }) => {
    const p = await parsers();
    const ctx = contextFor(tailCmd, io, p);
    const [s] = p.parseSerials([serial]);
    if (flags.channel !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(flags.channel)) {
      throw new UsageError(`--channel must be a channel name, got ${JSON.stringify(flags.channel)}`);
    }
    const { tail } = await import('./actions/tail.js');
    setExit(
      await tail(ctx, {
        serial: s!,
        json: flags.json === true,
        ...(flags.channel === undefined ? {} : { channel: flags.channel }),
      }),
    );
  });

  return program;
}

/** Runs iotctl with `argv` (as in process.argv) and returns the exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      return EXIT_USAGE;
    }
    const report = reportError(err);
    io.stderr.write(report.text);
    return report.exitCode;
  }
}
