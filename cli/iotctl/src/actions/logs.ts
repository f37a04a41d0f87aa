import { randomUUID } from 'node:crypto';
import { ControlError, LOG_LEVEL_NAMES, type LogLevelName, type LogRecord } from '@sensor-streaming/control';
import { type LogBatch, logBatchCodec } from '@sensor-streaming/protocol';
import { EXIT_OK } from '../cli-error.js';
import { type Context, err, out, withSession } from '../context.js';
import { formatLogLine, logRecordOf } from '../format/logs.js';
import { json } from '../format/text.js';
import type { Targets } from '../options.js';
import { resolveTargets } from './send-command.js';

export interface LogsInput {
  targets: Exclude<Targets, { kind: 'all' }>;
  follow: boolean;
  minLevel?: LogLevelName;
  errorCode?: string;
  /** ISO 8601 */
  since?: string;
  /** Stored entries shown (the newest); default 100, 10 when following. */
  limit?: number;
  json: boolean;
}

/** Bindings per serial up to this many; above, one wildcard binding filtered here. */
const MAX_SERIAL_BINDINGS = 50;

function keep(r: LogRecord, input: LogsInput): boolean {
  if (
    input.minLevel !== undefined &&
    LOG_LEVEL_NAMES.indexOf(r.level) < LOG_LEVEL_NAMES.indexOf(input.minLevel)
  ) {
    return false;
  }
  if (input.errorCode !== undefined && r.errorCode !== input.errorCode) return false;
  return true;
}

const key = (r: LogRecord) =>
  `${r.serial}\u0000${r.time}\u0000${r.level}\u0000${r.errorCode}\u0000${r.message}`;

/**
 * `iotctl logs`: the stored log entries of some sensors (through the registry, from sensor_logs), then with
 * -f the new ones as they arrive on sensor.<serial>.logs, until Ctrl-C.
 */
export async function showLogs(ctx: Context, input: LogsInput): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const serials = await resolveTargets(session, input.targets);
    const width = Math.max(...serials.map((s) => s.length));
    const print = (r: LogRecord) =>
      out(ctx, input.json ? `${JSON.stringify(r)}\n` : formatLogLine(r, width, ctx.style));
    const limit = input.limit ?? (input.follow ? 10 : 100);
    const query = {
      serials,
      limit,
      ...(input.minLevel === undefined ? {} : { minLevel: input.minLevel }),
      ...(input.errorCode === undefined ? {} : { errorCode: input.errorCode }),
      ...(input.since === undefined ? {} : { since: input.since }),
    };
    if (!input.follow) {
      const records = await session.registry.listLogs(query);
      if (input.json) out(ctx, json(records));
      else if (records.length === 0) err(ctx, 'no log entries match\n');
      else for (const r of records) print(r);
      return EXIT_OK;
    }
    // subscribe first, so nothing logged between the listing and the subscription is missed
    const wanted = new Set(serials);
    const stop = new Promise<void>((resolve) => {
      const remove = ctx.io.onInterrupt(() => {
        remove();
        resolve();
      });
    });
    const shown = new Set<string>();
    let listing = true;
    const early: LogRecord[] = [];
    const consumer = await session.bus.consume({
      queue: {
        name: `iotctl.logs.${randomUUID()}`,
        type: 'classic',
        bindings:
          serials.length <= MAX_SERIAL_BINDINGS ? serials.map((s) => `sensor.${s}.logs`) : ['sensor.*.logs'],
        exclusive: true,
        autoDelete: true,
        deadLetter: false,
      },
      prefetch: 500,
      handler: async (d) => {
        let batch: LogBatch;
        try {
          batch = logBatchCodec.decode(d.body, d.contentType);
        } catch (e) {
          err(
            ctx,
            `iotctl: skipped an invalid log message on ${d.routingKey}: ${e instanceof Error ? e.message : e}\n`,
          );
          return;
        }
        if (!wanted.has(batch.serial)) return;
        for (const e of batch.entries) {
          const r = logRecordOf(batch.serial, e);
          if (!keep(r, input)) continue;
          if (listing) early.push(r);
          else if (!shown.has(key(r))) print(r);
        }
      },
    });
    try {
      const records = await session.registry.listLogs(query);
      for (const r of records) {
        shown.add(key(r));
        print(r);
      }
    } catch (e) {
      if (!(e instanceof ControlError)) throw e;
      err(ctx, `iotctl: ${e.message}; showing new entries only\n`);
    }
    listing = false;
    for (const r of early) if (!shown.has(key(r))) print(r);
    early.length = 0;
    if (!input.json)
      err(
        ctx,
        `following the logs of ${serials.length === 1 ? serials[0] : `${serials.length} sensors`} (Ctrl-C to stop)\n`,
      );
    await stop;
    await consumer.stop();
    return EXIT_OK;
  });
}
