import { type DeadLetter, type DeadLetterQueue, openDeadLetterQueue } from '@sensor-streaming/bus';
import {
  alarmCodec,
  type Codec,
  commandAckCodec,
  commandCodec,
  logBatchCodec,
  measurementBatchCodec,
  parseRoutingKey,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import type { Command } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_OK, UsageError } from '../cli-error.js';
import { type Context, err, out } from '../context.js';
import { json, renderTable } from '../format/text.js';

/*
 * `iotctl dead-letters list|show|replay|purge`: the operator's side of sensor_streaming.dead. Read a
 * reason, fix the cause, re-inject (into the queue the message came from) or drop.
 */

const DEFAULT_SCAN = 10_000;

function parseScan(v: string | undefined): number {
  const n = Number(v ?? DEFAULT_SCAN);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1_000_000) {
    throw new UsageError(`--scan must be an integer from 1 to 1000000, got ${JSON.stringify(v)}`);
  }
  return n;
}

function parseReason(v: string | undefined): RegExp | undefined {
  if (v === undefined) return undefined;
  try {
    return new RegExp(v);
  } catch (e) {
    throw new UsageError(`--reason is not a valid regular expression: ${e instanceof Error ? e.message : e}`);
  }
}

function parseIds(ids: readonly string[]): Set<string> {
  for (const id of ids) {
    if (!/^[0-9a-f]{12}$/.test(id))
      throw new UsageError(
        `dead-letter id must be 12 hex digits (from \`iotctl dead-letters list\`), got ${JSON.stringify(id)}`,
      );
  }
  return new Set(ids);
}

async function open(ctx: Context): Promise<DeadLetterQueue> {
  try {
    return await openDeadLetterQueue(ctx.session.amqpUrl);
  } catch (e) {
    throw new CliError(
      'IOTCTL_UNREACHABLE',
      `cannot reach the broker: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

async function withQueue<T>(ctx: Context, fn: (q: DeadLetterQueue) => Promise<T>): Promise<T> {
  const q = await open(ctx);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

function summary(d: DeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    reason: d.reason,
    cause: d.cause,
    routingKey: d.routingKey,
    queue: d.queue ?? null,
    contentType: d.contentType ?? null,
    messageId: d.messageId ?? null,
    deadAt: d.deadAtMs === undefined ? null : new Date(d.deadAtMs).toISOString(),
    bytes: d.bytes,
  };
}

const CODECS: Record<string, Codec<unknown>> = {
  data: measurementBatchCodec as Codec<unknown>,
  logs: logBatchCodec as Codec<unknown>,
  state: sensorStateCodec as Codec<unknown>,
  acks: commandAckCodec as Codec<unknown>,
  command: commandCodec as Codec<unknown>,
  alarm: alarmCodec as Codec<unknown>,
};

/** The body decoded by the codec of its routing key, or why it cannot be. */
function decodeBody(d: DeadLetter): { decoded?: unknown; error?: string } {
  try {
    const kind = parseRoutingKey(d.routingKey).kind;
    const codec = CODECS[kind];
    if (!codec) return { error: `no codec for ${kind}` };
    return { decoded: codec.decode(d.body, d.contentType) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export interface DeadLetterFlags {
  scan?: string;
  json?: boolean;
  reason?: string;
  all?: boolean;
  yes?: boolean;
}

export async function listDeadLetters(
  ctx: Context,
  flags: DeadLetterFlags & { limit?: string },
): Promise<number> {
  const limit = parseScan(flags.limit ?? '100');
  const reason = parseReason(flags.reason);
  return withQueue(ctx, async (q) => {
    const total = await q.count();
    const all = await q.list({ limit });
    const shown = reason ? all.filter((d) => reason.test(d.reason)) : all;
    if (flags.json) {
      out(ctx, json({ total, shown: shown.map(summary) }));
      return EXIT_OK;
    }
    out(
      ctx,
      renderTable(
        shown,
        [
          { header: 'ID', value: (d) => d.id },
          { header: 'ROUTING KEY', value: (d) => d.routingKey },
          { header: 'QUEUE', value: (d) => d.queue ?? '?' },
          {
            header: 'DEAD AT',
            value: (d) => (d.deadAtMs === undefined ? '?' : new Date(d.deadAtMs).toISOString()),
          },
          {
            header: 'REASON',
            value: (d) => (d.reason.length > 100 ? `${d.reason.slice(0, 97)}...` : d.reason),
          },
        ],
        ctx.style,
      ),
    );
    out(ctx, `${shown.length} shown of ${total} in sensor_streaming.dead\n`);
    return EXIT_OK;
  });
}

export async function showDeadLetter(ctx: Context, id: string, flags: DeadLetterFlags): Promise<number> {
  const ids = parseIds([id]);
  const limit = parseScan(flags.scan);
  return withQueue(ctx, async (q) => {
    const found = (await q.list({ limit })).find((d) => ids.has(d.id));
    if (!found)
      throw new CliError('IOTCTL_NOT_FOUND', `no dead letter ${id} among the first ${limit} (try --scan)`);
    const body = decodeBody(found);
    const detail = {
      ...summary(found),
      headers: Object.fromEntries(
        Object.entries(found.headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : v]),
      ),
      ...(body.decoded !== undefined
        ? { body: body.decoded }
        : { bodyError: body.error, bodyBase64: found.body.subarray(0, 4096).toString('base64') }),
    };
    out(ctx, flags.json ? json(detail) : `${JSON.stringify(detail, null, 2)}\n`);
    return EXIT_OK;
  });
}

function selector(ids: readonly string[], flags: DeadLetterFlags, verb: string): (d: DeadLetter) => boolean {
  const idSet = parseIds(ids);
  const reason = parseReason(flags.reason);
  if (idSet.size === 0 && reason === undefined && flags.all !== true) {
    throw new UsageError(`${verb}: give dead-letter ids, --reason <regex> or --all`);
  }
  return (d) => (idSet.size === 0 || idSet.has(d.id)) && (reason === undefined || reason.test(d.reason));
}

export async function replayDeadLetters(
  ctx: Context,
  ids: readonly string[],
  flags: DeadLetterFlags,
): Promise<number> {
  const match = selector(ids, flags, 'replay');
  const limit = parseScan(flags.scan);
  return withQueue(ctx, async (q) => {
    const { replayed, skipped } = await q.replay(match, { limit });
    if (flags.json) out(ctx, json({ replayed: replayed.map(summary), skipped: skipped.map(summary) }));
    else {
      for (const d of replayed) out(ctx, `replayed ${d.id} to ${d.queue} (${d.routingKey})\n`);
      out(ctx, `${replayed.length} replayed\n`);
      for (const d of skipped)
        err(ctx, `iotctl: kept ${d.id}: its queue ${d.queue ?? '(unknown)'} does not exist\n`);
    }
    return skipped.length > 0 ? EXIT_FAILURE : EXIT_OK;
  });
}

export async function purgeDeadLetters(
  ctx: Context,
  ids: readonly string[],
  flags: DeadLetterFlags,
): Promise<number> {
  const match = selector(ids, flags, 'purge');
  if (flags.yes !== true) throw new UsageError('purge deletes dead letters for good: add --yes');
  const limit = parseScan(flags.scan);
  return withQueue(ctx, async (q) => {
    const purged = await q.purge(match, { limit });
    if (flags.json) out(ctx, json({ purged: purged.map(summary) }));
    else out(ctx, `${purged.length} purged\n`);
    return EXIT_OK;
  });
}

/** Adds `dead-letters list|show|replay|purge` to the program. */
export function registerDeadLetterCommands(
  program: Command,
  contextFor: (cmd: Command) => Promise<Context>,
  setExit: (code: number) => void,
): void {
  const dl = program
    .command('dead-letters')
    .description('messages that could not be processed (sensor_streaming.dead): list, show, replay, purge');
  const list = dl
    .command('list')
    .description('the first dead letters with their reason')
    .option('--limit <n>', 'look at this many', '100')
    .option('--reason <regex>', 'only those whose reason matches')
    .option('--json', 'print JSON');
  list.action(async (flags: DeadLetterFlags & { limit?: string }) => {
    setExit(await listDeadLetters(await contextFor(list), flags));
  });
  const show = dl
    .command('show')
    .description('one dead letter: headers, reason and decoded body')
    .argument('<id>')
    .option('--scan <n>', 'look at this many to find it', String(DEFAULT_SCAN))
    .option('--json', 'print JSON');
  show.action(async (id: string, flags: DeadLetterFlags) => {
    setExit(await showDeadLetter(await contextFor(show), id, flags));
  });
  const replay = dl
    .command('replay')
    .description('re-inject into the queue each came from (once the cause is fixed)')
    .argument('[id...]')
    .option('--reason <regex>', 'those whose reason matches')
    .option('--all', 'every dead letter scanned')
    .option('--scan <n>', 'look at this many', String(DEFAULT_SCAN))
    .option('--json', 'print JSON');
  replay.action(async (ids: string[], flags: DeadLetterFlags) => {
    setExit(await replayDeadLetters(await contextFor(replay), ids, flags));
  });
  const purge = dl
    .command('purge')
    .description('delete dead letters for good')
    .argument('[id...]')
    .option('--reason <regex>', 'those whose reason matches')
    .option('--all', 'every dead letter scanned')
    .option('--scan <n>', 'look at this many', String(DEFAULT_SCAN))
    .option('--yes', 'really delete')
    .option('--json', 'print JSON');
  purge.action(async (ids: string[], flags: DeadLetterFlags) => {
    setExit(await purgeDeadLetters(await contextFor(purge), ids, flags));
  });
}
