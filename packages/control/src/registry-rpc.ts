import type { Bus } from '@sensor-streaming/bus';
import { assertSerial, type GeoPoint, type PowerState, type CommandType } from '@sensor-streaming/protocol';
import { ControlError } from './control-error.js';
import { badRequest, callJsonRpc, isRecord, parseRpcEnvelope } from './json-rpc-call.js';

/** The registry serves its queries on this queue (default exchange, routed by queue name). */
export const REGISTRY_RPC_QUEUE = 'sensor-registry.rpc';

const POWER_STATES: readonly PowerState[] = ['AWAKE', 'ASLEEP', 'OFFLINE'];
const SELECTOR_KEY = /^[A-Za-z0-9_.-]{1,63}$/;
const SELECTOR_VALUE = /^[A-Za-z0-9_.:/-]{0,128}$/;
const KIND = /^[A-Za-z0-9_-]{1,64}$/;

export interface SensorFilter {
  kind?: string;
  state?: PowerState;
  online?: boolean;
  /** Label selector: every key must equal its value (`kind` matches the sensor kind). */
  selector?: Record<string, string>;
  serials?: string[];
  limit?: number;
}

export interface SensorSummary {
  serial: string;
  kind: string;
  labels: Record<string, string>;
  firmware: string;
  channels: string[];
  location: GeoPoint | null;
  desiredState: PowerState | null;
  desiredFrequencyHz: number | null;
  reportedState: PowerState | null;
  reportedFrequencyHz: number | null;
  minFrequencyHz: number | null;
  maxFrequencyHz: number | null;
  online: boolean;
  /** ISO 8601, null when never heard from. */
  lastSeenAt: string | null;
  registeredAt: string;
  /** Nominal samples/s: reported frequency times channels while awake, else 0. */
  samplesPerSecond: number;
  /** ISO 8601 receive time of the last data batch (not a heartbeat); null when none. Absent from older registries. */
  lastDataAt?: string | null;
  /** Samples/s the registry counted in the recent data (0 when none for a few seconds); null when unknown. */
  measuredSamplesPerSecond?: number | null;
  /** Commands sent and not settled yet: the desired state is on its way. */
  pendingCommands?: number;
}

export type CommandStatus = 'ISSUED' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'TIMED_OUT';

export interface CommandRecord {
  commandId: string;
  serial: string;
  type: CommandType;
  sampleFrequencyHz: number | null;
  issuedBy: string;
  issuedAt: string;
  expiresAt: string | null;
  ackedAt: string | null;
  status: CommandStatus;
  reason: string | null;
  rttMs: number | null;
}

export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export const LOG_LEVEL_NAMES: readonly LogLevelName[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/** `logs.list`: the stored log entries of some sensors, newest `limit` of them, returned oldest first. */
export interface LogQuery {
  serials: string[];
  /** This level and the ones above it. */
  minLevel?: LogLevelName;
  errorCode?: string;
  /** ISO 8601: entries at or after this time. */
  since?: string;
  limit?: number;
}

export interface LogRecord {
  serial: string;
  /** ISO 8601 (the sensor's clock). */
  time: string;
  level: LogLevelName;
  errorCode: string;
  component: string;
  message: string;
  appVersion: string;
  firmwareVersion: string;
}

/** A channel's recent values, averaged per bucket (the sparkline of `iotctl sensors show`). */
export interface ChannelSeries {
  channel: string;
  bucketSeconds: number;
  /** Oldest first; null where the bucket had no sample. */
  values: Array<number | null>;
  /** ISO 8601 start of the first bucket. */
  from: string;
}

/** `fleet.health`: what the registry can tell of the pipeline behind it (the live view's services line). */
export interface FleetHealth {
  /** ISO 8601 time of the newest stored sample (last 10 minutes), null when none: is the ingester writing? */
  newestMeasurementAt: string | null;
  /** Same for the newest stored log entry. */
  newestLogAt: string | null;
  /** When the registry answered (its clock), to compute the ages without trusting the client's clock. */
  now: string;
}

export type RegistryRequest =
  | { method: 'fleet.health'; params: Record<string, never> }
  | { method: 'sensors.list'; params: SensorFilter }
  | { method: 'sensors.show'; params: { serial: string; commandLimit?: number } }
  | { method: 'commands.list'; params: { serial: string; limit?: number } }
  | { method: 'logs.list'; params: LogQuery };

export interface SensorDetail {
  sensor: SensorSummary;
  commands: CommandRecord[];
  /** Recent values per channel (registries from issue 12 on). */
  series?: ChannelSeries[];
}

export type RegistryResponse<T> =
  | { ok: true; result: T }
  | { ok: false; error: { code: string; message: string } };

/**
 * Parses `kind=vibration,site=north` into `{ kind: 'vibration', site: 'north' }`.
 * Throws ControlError naming the bad part.
 */
export function parseSelector(text: string): Record<string, string> {
  const selector: Record<string, string> = {};
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new ControlError('CONTROL_BAD_SELECTOR', 'selector is empty');
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new ControlError('CONTROL_BAD_SELECTOR', `selector part "${part}" is not key=value`);
    }
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!SELECTOR_KEY.test(key)) {
      throw new ControlError(
        'CONTROL_BAD_SELECTOR',
        `selector key "${key}" must match ${SELECTOR_KEY.source}`,
      );
    }
    if (!SELECTOR_VALUE.test(value)) {
      throw new ControlError(
        'CONTROL_BAD_SELECTOR',
        `selector value "${value}" for "${key}" must match ${SELECTOR_VALUE.source}`,
      );
    }
    if (key in selector) throw new ControlError('CONTROL_BAD_SELECTOR', `selector key "${key}" is repeated`);
    selector[key] = value;
  }
  return selector;
}

function optionalLimit(v: unknown, field: string, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    badRequest(field, `must be an integer from 1 to ${max}`);
  }
  return v;
}

function parseFilter(p: Record<string, unknown>): SensorFilter {
  const filter: SensorFilter = {};
  if (p.kind !== undefined) {
    if (typeof p.kind !== 'string' || !KIND.test(p.kind))
      badRequest('params.kind', `must match ${KIND.source}`);
    filter.kind = p.kind;
  }
  if (p.state !== undefined) {
    if (typeof p.state !== 'string' || !POWER_STATES.includes(p.state as PowerState)) {
      badRequest('params.state', `must be one of ${POWER_STATES.join(', ')}`);
    }
    filter.state = p.state as PowerState;
  }
  if (p.online !== undefined) {
    if (typeof p.online !== 'boolean') badRequest('params.online', 'must be a boolean');
    filter.online = p.online;
  }
  if (p.selector !== undefined) {
    if (!isRecord(p.selector)) badRequest('params.selector', 'must be an object of strings');
    const selector: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.selector)) {
      if (!SELECTOR_KEY.test(k) || typeof v !== 'string' || !SELECTOR_VALUE.test(v)) {
        badRequest(`params.selector.${k}`, 'must be a valid label key with a string value');
      }
      selector[k] = v;
    }
    filter.selector = selector;
  }
  if (p.serials !== undefined) {
    if (!Array.isArray(p.serials) || p.serials.length > 100_000) {
      badRequest('params.serials', 'must be an array of at most 100000 serials');
    }
    filter.serials = p.serials.map((s, i) => assertSerial(s, `params.serials[${i}]`));
  }
  const limit = optionalLimit(p.limit, 'params.limit', 100_000);
  if (limit !== undefined) filter.limit = limit;
  return filter;
}

const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

function parseLogQuery(p: Record<string, unknown>): LogQuery {
  if (!Array.isArray(p.serials) || p.serials.length === 0 || p.serials.length > 10_000) {
    badRequest('params.serials', 'must be an array of 1 to 10000 serials');
  }
  const q: LogQuery = { serials: p.serials.map((s, i) => assertSerial(s, `params.serials[${i}]`)) };
  if (p.minLevel !== undefined) {
    if (typeof p.minLevel !== 'string' || !LOG_LEVEL_NAMES.includes(p.minLevel as LogLevelName)) {
      badRequest('params.minLevel', `must be one of ${LOG_LEVEL_NAMES.join(', ')}`);
    }
    q.minLevel = p.minLevel as LogLevelName;
  }
  if (p.errorCode !== undefined) {
    if (typeof p.errorCode !== 'string' || !ERROR_CODE.test(p.errorCode)) {
      badRequest('params.errorCode', `must match ${ERROR_CODE.source}`);
    }
    q.errorCode = p.errorCode;
  }
  if (p.since !== undefined) {
    if (typeof p.since !== 'string' || Number.isNaN(Date.parse(p.since)))
      badRequest('params.since', 'must be an ISO 8601 time');
    q.since = new Date(Date.parse(p.since)).toISOString();
  }
  const limit = optionalLimit(p.limit, 'params.limit', 10_000);
  if (limit !== undefined) q.limit = limit;
  return q;
}

/** Validates a request body (JSON) received by the registry. Throws ControlError (permanent). */
export function parseRegistryRequest(body: Buffer): RegistryRequest {
  const { method, params } = parseRpcEnvelope(body);
  switch (method) {
    case 'sensors.list':
      return { method: 'sensors.list', params: parseFilter(params) };
    case 'sensors.show': {
      const serial = assertSerial(params.serial, 'params.serial');
      const commandLimit = optionalLimit(params.commandLimit, 'params.commandLimit', 1000);
      return {
        method: 'sensors.show',
        params: commandLimit === undefined ? { serial } : { serial, commandLimit },
      };
    }
    case 'commands.list': {
      const serial = assertSerial(params.serial, 'params.serial');
      const limit = optionalLimit(params.limit, 'params.limit', 10_000);
      return { method: 'commands.list', params: limit === undefined ? { serial } : { serial, limit } };
    }
    case 'logs.list':
      return { method: 'logs.list', params: parseLogQuery(params) };
    case 'fleet.health':
      return { method: 'fleet.health', params: {} };
    default:
      return badRequest('method', `unknown method ${JSON.stringify(method)}`);
  }
}

export function encodeRegistryResponse<T>(response: RegistryResponse<T>): Buffer {
  return Buffer.from(JSON.stringify(response), 'utf8');
}

export interface RegistryClient {
  listSensors(filter?: SensorFilter): Promise<SensorSummary[]>;
  showSensor(serial: string, commandLimit?: number): Promise<SensorDetail>;
  listCommands(serial: string, limit?: number): Promise<CommandRecord[]>;
  listLogs(query: LogQuery): Promise<LogRecord[]>;
  fleetHealth(): Promise<FleetHealth>;
}

/** Client side of the registry's RPC, used by iotctl and anyone else that needs the fleet. */
export function createRegistryClient(bus: Bus, opts: { timeoutMs?: number } = {}): RegistryClient {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const call = <T>(request: RegistryRequest): Promise<T> =>
    callJsonRpc<T>(
      bus,
      {
        queue: REGISTRY_RPC_QUEUE,
        label: 'the sensor registry',
        service: 'sensor-registry',
        codePrefix: 'REGISTRY',
      },
      request,
      timeoutMs,
    );
  return {
    listSensors: (filter = {}) => call<SensorSummary[]>({ method: 'sensors.list', params: filter }),
    showSensor: (serial, commandLimit) =>
      call<SensorDetail>({
        method: 'sensors.show',
        params: commandLimit === undefined ? { serial } : { serial, commandLimit },
      }),
    listCommands: (serial, limit) =>
      call<CommandRecord[]>({
        method: 'commands.list',
        params: limit === undefined ? { serial } : { serial, limit },
      }),
    listLogs: (query) => call<LogRecord[]>({ method: 'logs.list', params: query }),
    fleetHealth: () => call<FleetHealth>({ method: 'fleet.health', params: {} }),
  };
}
