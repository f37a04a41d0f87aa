import {
  type AlarmStatsRecord,
  assertAlarmId,
  type MaintenanceRecord,
  parseShelfDuration,
  type ShelfRecord,
} from '@sensor-streaming/control';
import type { Command } from 'commander';
import { EXIT_OK, UsageError } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { json } from '../format/text.js';
import { parseTargets } from '../options.js';
import { resolveTargets } from './send-command.js';

// Alarm management after ISA-18.2 / EEMUA 191 (issue 11): shelving, maintenance mode, the alarm
// system's performance figures. One registration function, so cli.ts only calls it.

type ContextFor = (cmd: Command) => Promise<Context>;

/** `alarms` has its own --json, which commander gives to the parent when it follows the subcommand. */
function wantsJson(cmd: Command): boolean {
  return cmd.opts<{ json?: boolean }>().json === true || cmd.parent?.opts<{ json?: boolean }>().json === true;
}

function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function reasonFlag(v: string | undefined, required: boolean): string {
  const r = v?.trim() ?? '';
  if (required && r === '')
    throw new UsageError('--reason is required: say why (it is recorded with the shelf)');
  if (r.length > 500) throw new UsageError('--reason: at most 500 characters');
  return r;
}

const shelfLine = (s: ShelfRecord): string =>
  `${s.alarmId}  ${s.serial} ${s.rule}${s.channel ? `/${s.channel}` : ''}  until ${s.expiresAt}  by ${s.shelvedBy}: ${s.reason}\n`;

const maintenanceLine = (m: MaintenanceRecord): string =>
  `${m.serial}  until ${m.endsAt}  by ${m.startedBy}${m.reason ? `: ${m.reason}` : ''}\n`;

export function formatStats(s: AlarmStatsRecord): string {
  const lines = [
    `alarm system performance ${s.from} .. ${s.to} (EEMUA 191 / ISA-18.2)`,
    `  alarms raised            ${s.raised}`,
    `  average per 10 minutes   ${s.averagePer10Min.toFixed(2)}   (target <= 1, over-demanding > 2)`,
    `  peak per 10 minutes      ${s.peakPer10Min}   (flood: > 10)`,
    `  time in flood            ${s.floodPercent.toFixed(1)} %   (target < 1 %)`,
    `  standing alarms          ${s.standing}   (stale > 24 h: ${s.stale})`,
    `  shelved / maintenance    ${s.shelved} / ${s.inMaintenance}`,
    `  chattering               ${s.chattering.length}   (3+ raises within a minute)`,
    ...s.chattering
      .slice(0, 10)
      .map(
        (c) =>
          `    ${c.serial} ${c.rule}${c.channel ? `/${c.channel}` : ''}: ${c.raisesInAMinute} in a minute`,
      ),
    '  top bad actors',
    ...(s.topBadActors.length === 0
      ? ['    (none)']
      : s.topBadActors.map(
          (b, i) =>
            `    ${String(i + 1).padStart(2)}. ${b.serial} ${b.rule}${b.channel ? `/${b.channel}` : ''}: ${b.raised} (${b.percent.toFixed(1)} %)`,
        )),
  ];
  return `${lines.join('\n')}\n`;
}

function parseTime(flag: string, v: string | undefined, nowMs: number): number | undefined {
  if (v === undefined) return undefined;
  const rel = /^(\d+(?:\.\d+)?)(m|h|d)$/.exec(v.trim());
  if (rel)
    return Math.round(
      (nowMs - Number(rel[1]) * { m: 60e3, h: 3600e3, d: 86_400e3 }[rel[2] as 'm' | 'h' | 'd']) * 1000,
    );
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new UsageError(
      `${flag}: must be an ISO time or an age like 30m, 24h, 7d, got ${JSON.stringify(v)}`,
    );
  return t * 1000;
}

/** Adds `alarms shelve|unshelve|shelves|stats` and `sensors maintenance`. */
export function registerAlarmManagement(
  alarms: Command,
  sensors: Command,
  contextFor: ContextFor,
  setExit: (code: number) => void,
): void {
  const shelve = alarms
    .command('shelve')
    .description('shelve an alarm: it stays evaluated but does not notify until the shelf expires')
    .argument('<alarm-id>')
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 1h, 2d (at most 7d)')
    .requiredOption('--reason <text>', 'why (recorded)')
    .option('--json', 'print JSON');
  shelve.action(async (id: string, flags: { for: string; reason: string; json?: boolean }) => {
    const ctx = await contextFor(shelve);
    const alarmId = usage(() => assertAlarmId(id, 'alarm id'));
    const forMs = usage(() => parseShelfDuration(flags.for, '--for'));
    const reason = reasonFlag(flags.reason, true);
    setExit(
      await withSession(ctx, {}, async (session) => {
        const shelf = await session.alarms.shelve({ alarmId, reason, forMs });
        out(ctx, wantsJson(shelve) ? json(shelf) : `shelved ${shelfLine(shelf)}`);
        return EXIT_OK;
      }),
    );
  });

  const unshelve = alarms
    .command('unshelve')
    .description('take an alarm off the shelf now (if still active it comes back and notifies)')
    .argument('<alarm-id>')
    .option('--json', 'print JSON');
  unshelve.action(async (id: string) => {
    const ctx = await contextFor(unshelve);
    const alarmId = usage(() => assertAlarmId(id, 'alarm id'));
    setExit(
      await withSession(ctx, {}, async (session) => {
        const shelf = await session.alarms.unshelve(alarmId);
        out(ctx, wantsJson(unshelve) ? json(shelf) : `unshelved ${shelfLine(shelf)}`);
        return EXIT_OK;
      }),
    );
  });

  const shelves = alarms
    .command('shelves')
    .description('alarms on the shelf now')
    .option('--json', 'print JSON');
  shelves.action(async () => {
    const ctx = await contextFor(shelves);
    setExit(
      await withSession(ctx, {}, async (session) => {
        const list = await session.alarms.shelves();
        out(
          ctx,
          wantsJson(shelves)
            ? json(list)
            : list.length === 0
              ? 'no shelved alarms\n'
              : list.map(shelfLine).join(''),
        );
        return EXIT_OK;
      }),
    );
  });

  const stats = alarms
    .command('stats')
    .description('alarm system performance (EEMUA 191): rate, peak, floods, standing, chattering, bad actors')
    .option('--from <time>', 'start: ISO time or an age like 24h (default 24h)')
    .option('--to <time>', 'end: ISO time or an age (default now)')
    .option('--json', 'print JSON');
  stats.action(async (flags: { from?: string; to?: string; json?: boolean }) => {
    const ctx = await contextFor(stats);
    const now = ctx.nowMs();
    const fromUs = parseTime('--from', flags.from, now);
    const toUs = parseTime('--to', flags.to, now);
    if (fromUs !== undefined && toUs !== undefined && toUs <= fromUs)
      throw new UsageError('--to must be after --from');
    setExit(
      await withSession(ctx, {}, async (session) => {
        const s = await session.alarms.stats({
          ...(fromUs === undefined ? {} : { fromUs }),
          ...(toUs === undefined ? {} : { toUs }),
        });
        out(ctx, wantsJson(stats) ? json(s) : formatStats(s));
        return EXIT_OK;
      }),
    );
  });

  const maintenance = sensors
    .command('maintenance')
    .description(
      'maintenance mode: alarms of these sensors are recorded but neither notify nor send commands',
    )
    .argument('[serial...]', 'sensor serials')
    .option('--selector <selector>', 'sensors whose labels match, e.g. kind=process,site=north')
    .option('--all', 'every sensor the registry knows')
    .option('--for <duration>', 'how long, e.g. 30m, 2h (at most 7d)')
    .option('--reason <text>', 'why (recorded)')
    .option('--end', 'end the maintenance of these sensors now')
    .option('--list', 'list the sensors in maintenance')
    .option('--json', 'print JSON');
  maintenance.action(
    async (
      positional: string[],
      flags: {
        selector?: string;
        all?: boolean;
        for?: string;
        reason?: string;
        end?: boolean;
        list?: boolean;
        json?: boolean;
      },
    ) => {
      const ctx = await contextFor(maintenance);
      if (flags.list) {
        setExit(
          await withSession(ctx, {}, async (session) => {
            const list = await session.alarms.maintenance();
            out(
              ctx,
              flags.json
                ? json(list)
                : list.length === 0
                  ? 'no sensor in maintenance\n'
                  : list.map(maintenanceLine).join(''),
            );
            return EXIT_OK;
          }),
        );
        return;
      }
      const targets = parseTargets({ positional, all: flags.all, selector: flags.selector });
      if (flags.end && flags.for !== undefined) throw new UsageError('give --for or --end, not both');
      if (!flags.end && flags.for === undefined)
        throw new UsageError('--for <duration> is required (or --end, --list)');
      const forMs = flags.end ? 0 : usage(() => parseShelfDuration(flags.for, '--for'));
      const reason = reasonFlag(flags.reason, false);
      setExit(
        await withSession(ctx, {}, async (session) => {
          const serials = await resolveTargets(session, targets);
          if (flags.end) {
            const ended = await session.alarms.endMaintenance(serials);
            out(
              ctx,
              flags.json
                ? json(ended)
                : ended.length === 0
                  ? 'none of these sensors was in maintenance\n'
                  : `maintenance ended: ${ended.join(' ')}\n`,
            );
            return EXIT_OK;
          }
          const started = await session.alarms.startMaintenance({ serials, reason, forMs });
          if (flags.json) out(ctx, json(started));
          else {
            out(ctx, started.map((m) => `in maintenance: ${maintenanceLine(m)}`).join(''));
            const unknown = serials.filter((s) => !started.some((m) => m.serial === s));
            if (unknown.length > 0) out(ctx, `not registered (skipped): ${unknown.join(' ')}\n`);
          }
          return EXIT_OK;
        }),
      );
    },
  );
}
