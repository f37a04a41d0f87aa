import type { Bus } from '@sensor-streaming/bus';
import { type AlarmSeverity, isValidSerial } from '@sensor-streaming/protocol';
import { ControlError } from './control-error.js';
import { callJsonRpc } from './json-rpc-call.js';

/**
 * The alarm service serves its queries on this queue (routed by its own name on the exchange, like the
 * registry). services/alarm-service/src/alarm-rpc.ts implements the server side (it also answers
 * `alarms.transitions`); the shapes here match what it serves.
 */
export const ALARM_RPC_QUEUE = 'alarm-service.rpc';

export const ALARM_SEVERITIES: readonly AlarmSeverity[] = ['INFO', 'WARNING', 'MAJOR', 'CRITICAL'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Who acknowledges: what services/alarm-service accepts (e.g. `iotctl:alice`). */
export const ALARM_ACTOR_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** One alarm episode (raise .. clear), as `iotctl alarms` shows it. Times are ISO 8601. */
export interface AlarmRecord {
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverity;
  value: number | null;
  threshold: number | null;
  windowNs: number;
  message: string;
  raisedAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  clearedAt: string | null;
  /** Not cleared yet. */
  active: boolean;
}

export interface AlarmListParams {
  /** true: open episodes only; false: cleared ones only; absent: both. */
  active?: boolean;
  serial?: string;
  rule?: string;
  severity?: AlarmSeverity;
  /** Only episodes raised at or after this time (µs since the epoch). */
  sinceUs?: number;
  /** Default 100 (server side), at most 10 000. */
  limit?: number;
}

/** What `alarms.ack` answers: the episode, and whether this call acknowledged it or someone had already. */
export interface AlarmAckResult {
  status: 'ACKNOWLEDGED' | 'ALREADY_ACKNOWLEDGED';
  alarm: AlarmRecord;
}

export interface AlarmAckParams {
  alarmId: string;
  /** Who acknowledges, e.g. `iotctl:alice`. */
  by: string;
}

export type AlarmRequest =
  | { method: 'alarms.list'; params: AlarmListParams }
  | { method: 'alarms.ack'; params: AlarmAckParams };

export type AlarmResponse<T> =
  | { ok: true; result: T }
  | { ok: false; error: { code: string; message: string } };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(field: string, reason: string): never {
  throw new ControlError('CONTROL_BAD_REQUEST', `${field}: ${reason}`);
}

/** Checks an alarm id given by an operator (a uuid); throws ControlError naming the field. */
export function assertAlarmId(v: unknown, field = 'alarmId'): string {
  if (typeof v !== 'string' || !UUID.test(v))
    bad(field, `must be an alarm id (a uuid), got ${JSON.stringify(v)}`);
  return v.toLowerCase();
}

/** Parses `--severity major` and the like; throws ControlError. */
export function parseSeverity(v: unknown, field = 'severity'): AlarmSeverity {
  const s = typeof v === 'string' ? v.trim().toUpperCase() : v;
  if (typeof s !== 'string' || !ALARM_SEVERITIES.includes(s as AlarmSeverity)) {
    bad(field, `must be one of ${ALARM_SEVERITIES.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return s as AlarmSeverity;
}

/** Validates a request body (JSON) received by the alarm service. Throws ControlError (permanent). */
export function parseAlarmRequest(body: Buffer): AlarmRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    bad('body', 'is not valid JSON');
  }
  if (!isRecord(raw)) bad('body', 'must be a JSON object');
  const p = raw.params === undefined ? {} : raw.params;
  if (!isRecord(p)) bad('params', 'must be an object');
  switch (raw.method) {
    case 'alarms.list': {
      const params: AlarmListParams = {};
      if (p.active !== undefined) {
        if (typeof p.active !== 'boolean') bad('params.active', 'must be a boolean');
        params.active = p.active;
      }
      if (p.serial !== undefined) {
        if (!isValidSerial(p.serial)) bad('params.serial', 'must be a serial ([A-Za-z0-9_-]{1,64})');
        params.serial = p.serial;
      }
      if (p.rule !== undefined) {
        if (typeof p.rule !== 'string' || !RULE.test(p.rule)) bad('params.rule', `must match ${RULE.source}`);
        params.rule = p.rule;
      }
      if (p.sinceUs !== undefined) {
        if (typeof p.sinceUs !== 'number' || !Number.isSafeInteger(p.sinceUs) || p.sinceUs < 0) {
          bad('params.sinceUs', 'must be a non-negative integer (µs since the epoch)');
        }
        params.sinceUs = p.sinceUs;
      }
      if (p.severity !== undefined) {
        if (typeof p.severity !== 'string' || !ALARM_SEVERITIES.includes(p.severity as AlarmSeverity)) {
          bad('params.severity', `must be one of ${ALARM_SEVERITIES.join(', ')}`);
        }
        params.severity = p.severity as AlarmSeverity;
      }
      if (p.limit !== undefined) {
        if (typeof p.limit !== 'number' || !Number.isInteger(p.limit) || p.limit < 1 || p.limit > 10_000) {
          bad('params.limit', 'must be an integer from 1 to 10000');
        }
        params.limit = p.limit;
      }
      return { method: 'alarms.list', params };
    }
    case 'alarms.ack': {
      const alarmId = assertAlarmId(p.alarmId, 'params.alarmId');
      if (typeof p.by !== 'string' || !ALARM_ACTOR_PATTERN.test(p.by)) {
        bad('params.by', `must match ${ALARM_ACTOR_PATTERN.source}`);
      }
      return { method: 'alarms.ack', params: { alarmId, by: p.by } };
    }
    default:
      return bad('method', `unknown method ${JSON.stringify(raw.method)}`);
  }
}

export function encodeAlarmResponse<T>(response: AlarmResponse<T>): Buffer {
  return Buffer.from(JSON.stringify(response), 'utf8');
}

export interface AlarmClient {
  listAlarms(params?: AlarmListParams): Promise<AlarmRecord[]>;
  /** Acknowledges an episode; an unknown id fails with the service's error code (e.g. ALARM_NOT_FOUND). */
  ackAlarm(alarmId: string, by: string): Promise<AlarmAckResult>;
}

/** Client side of the alarm service's RPC (`iotctl alarms`). */
export function createAlarmClient(bus: Bus, opts: { timeoutMs?: number } = {}): AlarmClient {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const call = <T>(request: AlarmRequest): Promise<T> =>
    callJsonRpc<T>(
      bus,
      { queue: ALARM_RPC_QUEUE, label: 'the alarm service', service: 'alarm-service', codePrefix: 'ALARMS' },
      request,
      timeoutMs,
    );
  return {
    listAlarms: (params = {}) => call<AlarmRecord[]>({ method: 'alarms.list', params }),
    ackAlarm: (alarmId, by) =>
      call<AlarmAckResult>({ method: 'alarms.ack', params: { alarmId: assertAlarmId(alarmId), by } }),
  };
}
