import { readFile } from 'node:fs/promises';
import { createAlarmClient, type RulesTestResult } from '@sensor-streaming/control';
import type { Command } from 'commander';
import { EXIT_OK, UsageError } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { json } from '../format/text.js';
import { parseSelectorFlag } from '../options.js';

const BACKTEST_TIMEOUT_MS = 300_000;

/** `--from 2h`, `--from 2026-12-01T10:00:00Z`: µs since the epoch. */
export function parseBacktestTime(flag: string, v: string, nowMs: number): number {
  const rel = /^(\d+(?:\.\d+)?)(m|h|d)$/.exec(v.trim());
  if (rel) {
    const unit = { m: 60e3, h: 3600e3, d: 86_400e3 }[rel[2] as 'm' | 'h' | 'd'];
    return Math.round((nowMs - Number(rel[1]) * unit) * 1000);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new UsageError(
      `${flag}: must be an ISO time or an age like 30m, 24h, 7d, got ${JSON.stringify(v)}`,
    );
  return t * 1000;
}

export function formatBacktest(r: RulesTestResult): string {
  const lines = [
    `rules version ${r.rulesVersion}: ${r.sensors} sensors, ${r.samples} samples, ${r.logEntries} log entries`,
    ...r.problems.map((p) => `rejected ${p.where}: ${p.reason}`),
    ...r.skipped.map((s) => `skipped ${s.rule}: ${s.reason}`),
    ...(r.transitions.length === 0 ? ['no transitions'] : []),
    ...r.transitions.map(
      (t) =>
        `${new Date(t.timeUs / 1000).toISOString()}  ${t.kind === 'RAISE' ? 'RAISED ' : 'CLEARED'}  ${t.severity.padEnd(8)} ${t.serial} ${t.rule}${t.channel ? `/${t.channel}` : ''}  ${t.message}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** `iotctl rules test <rules.yaml> --from … --to … [--selector …]`: the live engine over stored data. */
export function registerRulesTest(
  program: Command,
  contextFor: (cmd: Command) => Promise<Context>,
  setExit: (n: number) => void,
): void {
  const rules = program.command('rules').description('alarm rules');
  const test = rules
    .command('test')
    .description(
      'run a rules file over stored data with the live engine and print the transitions (raises nothing)',
    )
    .argument('<rules-file>', '.yaml, .yml or .json')
    .requiredOption('--from <time>', 'start: ISO time or an age like 2h, 7d')
    .option('--to <time>', 'end: ISO time or an age (default now)')
    .option('--selector <selector>', 'only sensors whose labels match, e.g. kind=process,site=north')
    .option('--json', 'print JSON');
  test.action(
    async (file: string, flags: { from: string; to?: string; selector?: string; json?: boolean }) => {
      const ctx = await contextFor(test);
      const format = /\.json$/i.test(file) ? 'json' : /\.ya?ml$/i.test(file) ? 'yaml' : undefined;
      if (format === undefined) throw new UsageError(`${file}: must end in .yaml, .yml or .json`);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new UsageError(
          `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        );
      }
      const now = ctx.nowMs();
      const fromUs = parseBacktestTime('--from', flags.from, now);
      const toUs = flags.to === undefined ? now * 1000 : parseBacktestTime('--to', flags.to, now);
      if (toUs <= fromUs) throw new UsageError('--to must be after --from');
      const selector = flags.selector === undefined ? undefined : parseSelectorFlag(flags.selector);
      setExit(
        await withSession(ctx, {}, async (session) => {
          const client = createAlarmClient(session.bus, { timeoutMs: BACKTEST_TIMEOUT_MS });
          const r = await client.testRules({
            rules: text,
            format,
            fromUs,
            toUs,
            ...(selector ? { selector } : {}),
          });
          out(ctx, flags.json ? json(r) : formatBacktest(r));
          return EXIT_OK;
        }),
      );
    },
  );
}
