import type { CommandRequest } from '@sensor-streaming/control';
import { DEFAULT_ACK_TIMEOUT_MS } from '@sensor-streaming/control';
import { CliError, EXIT_OK } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { countFleet, formatCounts, formatSensorTable } from '../format/sensors.js';
import { json } from '../format/text.js';
import { filterRows, INITIAL_VIEW, sortRows, toRows, type ViewState } from '../ui/fleet-model.js';

export interface StatusInput {
  refreshMs: number;
  json: boolean;
  timeoutMs?: number;
  /** Initial sort and filters (also applied to the plain table off a terminal). */
  view?: Partial<ViewState>;
}

/** Lines of the view that are not sensor rows (header, services, table header, footer, keys, last command). */
const CHROME_LINES = 8;

/** The live view on a terminal; a plain table (printed once, same sort and filters) otherwise. */
export async function status(ctx: Context, input: StatusInput): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const { stdout, stdin, stderr } = ctx.io;
    const view: ViewState = { ...INITIAL_VIEW, ...input.view };
    if (input.json || stdout.isTTY !== true) {
      const all = await session.registry.listSensors();
      const sensors = filterRows(sortRows(toRows(all, new Map()), view.sort, view.reverse), view.filters).map(
        (r) => r.sensor,
      );
      if (input.json) out(ctx, json({ counts: countFleet(sensors), sensors }));
      else
        out(
          ctx,
          `${formatCounts(countFleet(sensors))}\n${formatSensorTable(sensors, ctx.style, ctx.nowMs())}`,
        );
      return EXIT_OK;
    }
    const commander = session.commander();
    const timeoutMs = input.timeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const sendCommand = async (serial: string, request: CommandRequest) => {
      const [outcome] = await commander.issue([serial], request, { issuedBy: ctx.issuedBy, timeoutMs });
      if (outcome === undefined) throw new CliError('IOTCTL_BUG', 'no outcome for the command');
      return outcome;
    };
    const rows = Math.max(3, (stdout.rows ?? 30) - CHROME_LINES);
    // ink renders nothing but the final frame when it believes it runs in CI (is-in-ci reads CI,
    // CONTINUOUS_INTEGRATION and CI_* once, when ink loads). This is a live view on a terminal, so it
    // is interactive whatever the shell's CI variable says (CI=false makes is-in-ci answer no).
    process.env.CI = 'false';
    // ink (and its layout engine) loads only for the live view: every other command starts faster
    const { renderStatus } = await import('../ui/render-status.js');
    const app = renderStatus(
      {
        fetchSensors: () => session.registry.listSensors(),
        fetchAlarms: () => session.alarms.listAlarms({ active: true, limit: 10_000 }),
        fetchHealth: () => session.registry.fleetHealth(),
        sendCommand,
        refreshMs: input.refreshMs,
        color: ctx.style.color,
        maxRows: rows,
        width: Math.max(40, (stdout.columns ?? 120) - 1),
        nowMs: ctx.nowMs,
        initial: view,
      },
      {
        stdout: stdout as NodeJS.WriteStream,
        stdin: stdin as NodeJS.ReadStream,
        stderr: stderr as NodeJS.WriteStream,
      },
    );
    const remove = ctx.io.onInterrupt(() => app.unmount());
    // the broker going away ends the view; withSession reports it in one line
    session.lost.catch(() => app.unmount());
    try {
      await app.waitUntilExit();
    } finally {
      remove();
    }
    return EXIT_OK;
  });
}
