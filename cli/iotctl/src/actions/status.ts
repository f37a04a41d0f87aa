import type { CommandRequest } from '@sensor-streaming/control';
import { DEFAULT_ACK_TIMEOUT_MS } from '@sensor-streaming/control';
import { CliError, EXIT_OK } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { countFleet, formatCounts, formatSensorTable } from '../format/sensors.js';
import { json } from '../format/text.js';

export interface StatusInput {
  refreshMs: number;
  json: boolean;
  timeoutMs?: number;
}

/** The live view on a terminal; a plain table (printed once) otherwise. */
export async function status(ctx: Context, input: StatusInput): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const { stdout, stdin, stderr } = ctx.io;
    if (input.json || stdout.isTTY !== true) {
      const sensors = await session.registry.listSensors();
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
    const rows = Math.max(5, (stdout.rows ?? 30) - 8);
    // ink (and its layout engine) loads only for the live view: every other command starts faster
    const { renderStatus } = await import('../ui/render-status.js');
    const app = renderStatus(
      {
        fetchSensors: () => session.registry.listSensors(),
        sendCommand,
        refreshMs: input.refreshMs,
        color: ctx.style.color,
        maxRows: rows,
        nowMs: ctx.nowMs,
      },
      {
        stdout: stdout as NodeJS.WriteStream,
        stdin: stdin as NodeJS.ReadStream,
        stderr: stderr as NodeJS.WriteStream,
      },
    );
    const remove = ctx.io.onInterrupt(() => app.unmount());
    try {
      await app.waitUntilExit();
    } finally {
      remove();
    }
    return EXIT_OK;
  });
}
