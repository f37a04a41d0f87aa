import type { SensorFilter } from '@sensor-streaming/control';
import { EXIT_OK } from '../cli-error.js';
import { type Context, out, withSession } from '../context.js';
import { formatCommandTable, formatSensorDetail, formatSensorTable } from '../format/sensors.js';
import { json } from '../format/text.js';
import { naturalCompare } from '../ui/fleet-model.js';

export async function listSensors(ctx: Context, filter: SensorFilter, asJson: boolean): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    // natural order, as in the live view: sim-0-2 before sim-0-10
    const sensors = (await session.registry.listSensors(filter)).sort((a, b) =>
      naturalCompare(a.serial, b.serial),
    );
    out(ctx, asJson ? json(sensors) : formatSensorTable(sensors, ctx.style, ctx.nowMs()));
    return EXIT_OK;
  });
}

export async function showSensor(
  ctx: Context,
  serial: string,
  commandLimit: number,
  asJson: boolean,
): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const detail = await session.registry.showSensor(serial, commandLimit);
    out(ctx, asJson ? json(detail) : formatSensorDetail(detail, ctx.style, ctx.nowMs()));
    return EXIT_OK;
  });
}

export async function commandHistory(
  ctx: Context,
  serial: string,
  limit: number,
  asJson: boolean,
): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const commands = await session.registry.listCommands(serial, limit);
    out(ctx, asJson ? json(commands) : formatCommandTable(commands, ctx.style));
    return EXIT_OK;
  });
}
