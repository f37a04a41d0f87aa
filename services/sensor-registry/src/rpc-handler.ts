import type { Delivery } from '@sensor-streaming/bus';
import {
  type CommandRecord,
  encodeRegistryResponse,
  type FleetHealth,
  type LogRecord,
  parseRegistryRequest,
  type RegistryRequest,
  type RegistryResponse,
  type SensorDetail,
  type SensorSummary,
} from '@sensor-streaming/control';
import {
  getRegistrySensor,
  listRegistryCommands,
  listRegistryLogs,
  newestStoredTimes,
  listRegistrySensors,
  type Queryable,
  type RegistryCommandRow,
  type RegistrySensorRow,
} from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';
import type { ChannelSeriesStore } from './channel-series.js';

export const DEFAULT_SHOW_COMMANDS = 20;
export const DEFAULT_COMMANDS_LIMIT = 100;
export const DEFAULT_LOGS_LIMIT = 100;

/** An expected failure of a registry query (unknown serial). */
export class RegistryError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: 'REGISTRY_UNKNOWN_SENSOR',
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** A measured rate older than this is stale: the sensor stopped sending data. */
export const MEASURED_RATE_MAX_AGE_MS = 5_000;

export function toSensorSummary(r: RegistrySensorRow, nowMs: number = Date.now()): SensorSummary {
  const awake = r.online && r.reportedState === 'AWAKE';
  return {
    serial: r.serial,
    kind: r.kind,
    labels: r.labels,
    firmware: r.firmware,
    channels: r.channels,
    location:
      r.latitude === null || r.longitude === null
        ? null
        : { lat: r.latitude, lon: r.longitude, ...(r.altitudeM === null ? {} : { altM: r.altitudeM }) },
    desiredState: r.desiredState,
    desiredFrequencyHz: r.desiredFrequencyHz,
    reportedState: r.reportedState,
    reportedFrequencyHz: r.reportedFrequencyHz,
    minFrequencyHz: r.minFrequencyHz,
    maxFrequencyHz: r.maxFrequencyHz,
    online: r.online,
    lastSeenAt: r.lastSeenAtUs === null ? null : iso(r.lastSeenAtUs),
    registeredAt: iso(r.registeredAtUs),
    samplesPerSecond: awake ? (r.reportedFrequencyHz ?? 0) * r.channels.length : 0,
    lastDataAt: r.lastDataAtUs === null ? null : iso(r.lastDataAtUs),
    measuredSamplesPerSecond:
      r.lastDataAtUs === null
        ? null
        : nowMs - r.lastDataAtUs / 1000 > MEASURED_RATE_MAX_AGE_MS
          ? 0
          : r.measuredSamplesPerSecond,
    pendingCommands: r.pendingCommands,
  };
}

export function toCommandRecord(r: RegistryCommandRow): CommandRecord {
  const hz = r.params.sampleFrequencyHz;
  return {
    commandId: r.commandId,
    serial: r.serial,
    type: r.type,
    sampleFrequencyHz: typeof hz === 'number' ? hz : null,
    issuedBy: r.issuedBy,
    issuedAt: iso(r.issuedAtUs),
    expiresAt: r.expiresAtUs === null ? null : iso(r.expiresAtUs),
    ackedAt: r.ackedAtUs === null ? null : iso(r.ackedAtUs),
    status: r.status,
    reason: r.reason === '' ? null : r.reason,
    rttMs: r.rttMs,
  };
}

function unknownSensor(serial: string): RegistryError {
  return new RegistryError(
    'REGISTRY_UNKNOWN_SENSOR',
    `no sensor with serial "${serial}" is registered (it has never sent its state or data)`,
  );
}

async function execute(
  db: Queryable,
  request: RegistryRequest,
  series: ChannelSeriesStore | undefined,
): Promise<unknown> {
  switch (request.method) {
    case 'sensors.list': {
      const rows = await listRegistrySensors(db, request.params);
      const nowMs = Date.now();
      return rows.map((r) => toSensorSummary(r, nowMs));
    }
    case 'sensors.show': {
      const { serial, commandLimit } = request.params;
      const row = await getRegistrySensor(db, serial);
      if (row === undefined) throw unknownSensor(serial);
      const commands = await listRegistryCommands(db, serial, commandLimit ?? DEFAULT_SHOW_COMMANDS);
      const detail: SensorDetail = { sensor: toSensorSummary(row), commands: commands.map(toCommandRecord) };
      if (series !== undefined) detail.series = series.series(serial, Date.now());
      return detail;
    }
    case 'commands.list': {
      const { serial, limit } = request.params;
      if ((await getRegistrySensor(db, serial)) === undefined) throw unknownSensor(serial);
      const rows = await listRegistryCommands(db, serial, limit ?? DEFAULT_COMMANDS_LIMIT);
      return rows.map(toCommandRecord);
    }
    case 'fleet.health': {
      const t = await newestStoredTimes(db);
      const health: FleetHealth = {
        newestMeasurementAt: t.newestMeasurementUs === null ? null : iso(t.newestMeasurementUs),
        newestLogAt: t.newestLogUs === null ? null : iso(t.newestLogUs),
        now: new Date().toISOString(),
      };
      return health;
    }
    case 'logs.list': {
      const q = request.params;
      const rows = await listRegistryLogs(db, {
        serials: q.serials,
        ...(q.minLevel === undefined ? {} : { minLevel: q.minLevel }),
        ...(q.errorCode === undefined ? {} : { errorCode: q.errorCode }),
        ...(q.since === undefined ? {} : { sinceUs: Date.parse(q.since) * 1000 }),
        limit: q.limit ?? DEFAULT_LOGS_LIMIT,
      });
      return rows.map(
        (r): LogRecord => ({
          serial: r.serial,
          time: iso(r.timeUs),
          level: r.level,
          errorCode: r.errorCode,
          component: r.component,
          message: r.message,
          appVersion: r.appVersion,
          firmwareVersion: r.firmwareVersion,
        }),
      );
    }
  }
}

function isExpected(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    (err as { permanent?: unknown }).permanent === true &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

/**
 * The registry's RPC (REGISTRY_RPC_QUEUE): sensors.list, sensors.show (with
 * the recent values per channel), commands.list, logs.list, fleet.health. Always answers with a RegistryResponse: a bad request or an
 * unknown serial is `{ok:false, error:{code, message}}`; an internal failure
 * (database down) is REGISTRY_INTERNAL with the details in the log only.
 * Never throws.
 */
export function createRegistryRpcHandler(opts: {
  db: Queryable;
  logger: Logger;
  /** Recent values per channel for sensors.show (absent: no series in the answer). */
  series?: ChannelSeriesStore;
}): (req: Delivery) => Promise<Buffer> {
  const log = opts.logger;
  return async (req) => {
    let response: RegistryResponse<unknown>;
    try {
      const request = parseRegistryRequest(req.body);
      response = { ok: true, result: await execute(opts.db, request, opts.series) };
    } catch (err) {
      if (isExpected(err)) {
        response = { ok: false, error: { code: err.code, message: err.message } };
      } else {
        log.error({ err }, 'registry query failed');
        response = {
          ok: false,
          error: {
            code: 'REGISTRY_INTERNAL',
            message: `the sensor registry could not answer: ${err instanceof Error ? err.message : String(err)}`,
          },
        };
      }
    }
    return encodeRegistryResponse(response);
  };
}
