import type { CommandOutcome, CommandRequest, IssueOptions, SensorFilter } from '@sensor-streaming/control';
import { CliError, EXIT_FAILURE, EXIT_OK } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { formatOutcome, formatSummary } from '../format/outcomes.js';
import { ProgressBar } from '../format/progress.js';
import { json } from '../format/text.js';
import type { Targets } from '../options.js';
import type { Session } from '../session.js';

export interface SendCommandInput {
  request: CommandRequest;
  targets: Targets;
  /** false: publish only (--no-wait). */
  wait: boolean;
  timeoutMs: number;
  ttlMs?: number;
  json: boolean;
  /** Commands outstanding at once (default: the commander's, 500). */
  concurrency?: number;
}

/** Serials for --all / --selector come from the registry; explicit serials are used as given. */
export async function resolveTargets(session: Session, targets: Targets): Promise<string[]> {
  if (targets.kind === 'serials') return targets.serials;
  const filter: SensorFilter = targets.kind === 'selector' ? { selector: targets.selector } : {};
  const sensors = await session.registry.listSensors(filter);
  if (sensors.length === 0) {
    throw new CliError(
      'IOTCTL_NO_TARGETS',
      targets.kind === 'all'
        ? 'the registry knows no sensors'
        : `no sensor matches the selector ${Object.entries(targets.selector)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')}`,
    );
  }
  return sensors.map((s) => s.serial);
}

/** sleep / awake / changesamplefrequency: publish, wait for the acks, one line per sensor. */
export async function sendCommand(ctx: Context, input: SendCommandInput): Promise<number> {
  // a slow broker confirms within the ack timeout or the target is reported FAILED (never a hang)
  const publishTimeoutMs = Math.max(5000, input.timeoutMs);
  return withSession(ctx, { publishTimeoutMs }, async (session) => {
    const serials = await resolveTargets(session, input.targets);
    const width = Math.max(...serials.map((s) => s.length));
    const opts: IssueOptions = { issuedBy: ctx.issuedBy, wait: input.wait, timeoutMs: input.timeoutMs };
    if (input.ttlMs !== undefined) opts.ttlMs = input.ttlMs;
    if (input.concurrency !== undefined) opts.concurrency = input.concurrency;
    // On a terminal, a bar on stderr with the counts by outcome so far (never on a pipe: no control codes
    // in a log). Per-sensor lines still go to stdout (--json: the array at the end).
    const stderr = ctx.io.stderr as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    const bar =
      stderr.isTTY === true && serials.length > 1
        ? new ProgressBar(stderr, serials.length, ctx.style)
        : undefined;
    const started = ctx.nowMs();
    opts.onOutcome = (o) => {
      bar?.count(o);
      if (!input.json) {
        bar?.clear();
        out(ctx, formatOutcome(o, width, ctx.style));
      }
      bar?.tick();
    };
    bar?.tick(true);
    let outcomes: CommandOutcome[];
    try {
      outcomes = await session.commander().issue(serials, input.request, opts);
    } finally {
      bar?.clear();
    }
    if (input.json) out(ctx, json(outcomes));
    else out(ctx, formatSummary(input.request.type, outcomes, ctx.nowMs() - started));
    const wanted = input.wait ? 'APPLIED' : 'PUBLISHED';
    return outcomes.every((o) => o.status === wanted) ? EXIT_OK : EXIT_FAILURE;
  });
}
