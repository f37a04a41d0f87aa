import type { Bus, QueueSpec } from '@sensor-streaming/bus';
import { type AlarmSeverity, isValidSerial } from '@sensor-streaming/protocol';
import { badRequest, callJsonRpc, isRecord, parseRpcEnvelope } from './json-rpc-call.js';

/**
 * The alarm RPC contract, the only one: the alarm service serves it on this queue (routed by its own
 * name on the exchange, like the registry) with parseAlarmRequest and these shapes; iotctl calls it
 * through createAlarmClient.
 */
export const ALARM_RPC_QUEUE = 'alarm-service.rpc';
/**
 * The routing key of the read-only methods (listings, stats, rules test), bound to the same queue. The
 * broker lets a read-only role (op.viewer) publish only this key; the service refuses a method that
 * changes anything when it arrives on it. Methods that change something go to ALARM_RPC_QUEUE.
 */
export const ALARM_RPC_READ_KEY = 'alarm-service.rpc.read';

/** The alarm service's RPC queue (and any stand-in for it): bound with both keys. */
export function alarmRpcQueue(): QueueSpec {
  return {
    name: ALARM_RPC_QUEUE,
    type: 'classic',
    bindings: [ALARM_RPC_QUEUE, ALARM_RPC_READ_KEY],
    deadLetter: false,
  };
}

/**
 * What a broker user must hold (in the alarm service's ALARM_RPC_GRANTS) to call the methods that change
 * alarms. The actor recorded (acknowledged_by, shelved_by, started_by) is the request's broker-validated
 * user_id, never a field of the request.
 */
export type AlarmPermission = 'alarms.ack' | 'alarms.shelve' | 'alarms.maintenance';
export const ALARM_PERMISSIONS: readonly AlarmPermission[] = [
  'alarms.ack',
  'alarms.shelve',
  'alarms.maintenance',
];

export const ALARM_SEVERITIES: readonly AlarmSeverity[] = ['INFO', 'WARNING', 'MAJOR', 'CRITICAL'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

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
  /** Shelved (ISA-18.2) until this time; absent when not shelved (or from an older service). */
  shelvedUntil?: string;
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

/** No `by`: who acknowledges is the broker-validated user of the request (older clients' `by` is ignored). */
export interface AlarmAckParams {
  alarmId: string;
}

/** One stored transition (`iotctl alarms --follow` polls with afterId). Times are µs since the epoch. */
export interface AlarmTransitionRecord {
  id: number;
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverity;
  transition: 'RAISED' | 'CLEARED' | 'ACKNOWLEDGED' | 'SHELVED' | 'UNSHELVED';
  value: number | null;
  threshold: number | null;
  windowNs: number;
  timeUs: number;
  acknowledgedBy: string | null;
  message: string;
}

export interface AlarmTransitionsParams {
  afterId?: number;
  sinceUs?: number;
  serial?: string;
  limit?: number;
}

/** Shelving (ISA-18.2): hide one alarm for a while, with a reason; it comes back when the shelf expires. */
export interface AlarmShelveParams {
  alarmId: string;
  reason: string;
  /** 1 s .. 7 days. */
  forMs: number;
}

export interface ShelfRecord {
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  reason: string;
  shelvedBy: string;
  shelvedAt: string;
  expiresAt: string;
}

export interface MaintenanceParams {
  serials: string[];
  reason: string;
  /** 1 s .. 7 days. */
  forMs: number;
}

export interface MaintenanceRecord {
  serial: string;
  reason: string;
  startedBy: string;
  startedAt: string;
  endsAt: string;
}

/** EEMUA 191 / ISA-18.2 figures over [fromUs, toUs). */
export interface AlarmStatsRecord {
  from: string;
  to: string;
  raised: number;
  averagePer10Min: number;
  peakPer10Min: number;
  floodPercent: number;
  standing: number;
  stale: number;
  chattering: Array<{ serial: string; rule: string; channel: string; raisesInAMinute: number }>;
  topBadActors: Array<{ serial: string; rule: string; channel: string; raised: number; percent: number }>;
  shelved: number;
  inMaintenance: number;
}

/** `iotctl rules test`: run a rules file over stored data, raising nothing. */
export interface RulesTestParams {
  /** The rules file's text (at most 1 MB). */
  rules: string;
  format: 'yaml' | 'json';
  fromUs: number;
  toUs: number;
  selector?: Record<string, string>;
}

export interface RulesTestTransition {
  kind: 'RAISE' | 'CLEAR';
  serial: string;
  rule: string;
  ruleType: string;
  channel: string;
  severity: string;
  value: number;
  threshold: number;
  timeUs: number;
  message: string;
}

export interface RulesTestResult {
  rulesVersion: string;
  /** Rules rejected by validation, with why. */
  problems: Array<{ where: string; reason: string }>;
  skipped: Array<{ rule: string; reason: string }>;
  sensors: number;
  samples: number;
  logEntries: number;
  transitions: RulesTestTransition[];
}

export type AlarmRequest =
  | { method: 'alarms.list'; params: AlarmListParams }
  | { method: 'alarms.ack'; params: AlarmAckParams }
  | { method: 'alarms.transitions'; params: AlarmTransitionsParams }
  | { method: 'alarms.shelve'; params: AlarmShelveParams }
  | { method: 'alarms.unshelve'; params: AlarmAckParams }
  | { method: 'alarms.shelves'; params: Record<string, never> }
  | { method: 'alarms.stats'; params: { fromUs?: number; toUs?: number } }
  | { method: 'maintenance.start'; params: MaintenanceParams }
  | { method: 'maintenance.end'; params: { serials: string[] } }
  | { method: 'maintenance.list'; params: Record<string, never> }
  | { method: 'rules.test'; params: RulesTestParams };

export const ALARM_METHODS: readonly AlarmRequest['method'][] = [
  'alarms.list',
  'alarms.ack',
  'alarms.transitions',
  'alarms.shelve',
  'alarms.unshelve',
  'alarms.shelves',
  'alarms.stats',
  'maintenance.start',
  'maintenance.end',
  'maintenance.list',
  'rules.test',
];

/** The permission a method needs, or undefined for a read-only one (served on ALARM_RPC_READ_KEY too). */
export function alarmMethodPermission(method: AlarmRequest['method']): AlarmPermission | undefined {
  switch (method) {
    case 'alarms.ack':
      return 'alarms.ack';
    case 'alarms.shelve':
    case 'alarms.unshelve':
      return 'alarms.shelve';
    case 'maintenance.start':
    case 'maintenance.end':
      return 'alarms.maintenance';
    default:
      return undefined;
  }
}

const MAX_BACKTEST_US = 31 * 86_400e6;

const MAX_SHELF_MS = 7 * 86_400_000;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3 };

/** Parses `--for 1h`, `30m`, `90s`, `2d` into ms (1 s .. 7 days); throws ControlError naming the flag. */
export function parseShelfDuration(v: unknown, field = '--for'): number {
  const m = typeof v === 'string' ? DURATION.exec(v.trim().toLowerCase()) : null;
  const ms = m ? Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0)) : Number.NaN;
  if (!(ms >= 1000 && ms <= MAX_SHELF_MS))
    badRequest(field, `must be a duration from 1s to 7d like 30m, 1h or 2d, got ${JSON.stringify(v)}`);
  return ms;
}

export type AlarmResponse<T> =
  | { ok: true; result: T }
  | { ok: false; error: { code: string; message: string } };

/** Checks an alarm id given by an operator (a uuid); throws ControlError naming the field. */
export function assertAlarmId(v: unknown, field = 'alarmId'): string {
  if (typeof v !== 'string' || !UUID.test(v))
    badRequest(field, `must be an alarm id (a uuid), got ${JSON.stringify(v)}`);
  return v.toLowerCase();
}

/** Parses `--severity major` and the like; throws ControlError. */
export function parseSeverity(v: unknown, field = 'severity'): AlarmSeverity {
  const s = typeof v === 'string' ? v.trim().toUpperCase() : v;
  if (typeof s !== 'string' || !ALARM_SEVERITIES.includes(s as AlarmSeverity)) {
    badRequest(field, `must be one of ${ALARM_SEVERITIES.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return s as AlarmSeverity;
}

function optInt(p: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = p[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    badRequest(`params.${k}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function reasonOf(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > 500)
    badRequest('params.reason', 'must be 1 to 500 characters');
  return v.trim();
}

function durationMs(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1000 || v > MAX_SHELF_MS)
    badRequest('params.forMs', `must be an integer from 1000 to ${MAX_SHELF_MS} (ms)`);
  return v;
}

function serialsOf(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 10_000)
    badRequest('params.serials', 'must be a list of 1 to 10000 serials');
  for (const [i, s] of v.entries())
    if (!isValidSerial(s)) badRequest(`params.serials[${i}]`, 'must be a serial ([A-Za-z0-9_-]{1,64})');
  return [...new Set(v as string[])];
}

/** Validates a request body (JSON) received by the alarm service. Throws ControlError (permanent). */
export function parseAlarmRequest(body: Buffer): AlarmRequest {
  const { method, params: p } = parseRpcEnvelope(body);
  switch (method) {
    case 'alarms.list': {
      const params: AlarmListParams = {};
      if (p.active !== undefined) {
        if (typeof p.active !== 'boolean') badRequest('params.active', 'must be a boolean');
        params.active = p.active;
      }
      if (p.serial !== undefined) {
        if (!isValidSerial(p.serial)) badRequest('params.serial', 'must be a serial ([A-Za-z0-9_-]{1,64})');
        params.serial = p.serial;
      }
      if (p.rule !== undefined) {
        if (typeof p.rule !== 'string' || !RULE.test(p.rule))
          badRequest('params.rule', `must match ${RULE.source}`);
        params.rule = p.rule;
      }
      if (p.sinceUs !== undefined) {
        if (typeof p.sinceUs !== 'number' || !Number.isSafeInteger(p.sinceUs) || p.sinceUs < 0) {
          badRequest('params.sinceUs', 'must be a non-negative integer (µs since the epoch)');
        }
        params.sinceUs = p.sinceUs;
      }
      if (p.severity !== undefined) {
        if (typeof p.severity !== 'string' || !ALARM_SEVERITIES.includes(p.severity as AlarmSeverity)) {
          badRequest('params.severity', `must be one of ${ALARM_SEVERITIES.join(', ')}`);
        }
        params.severity = p.severity as AlarmSeverity;
      }
      if (p.limit !== undefined) {
        if (typeof p.limit !== 'number' || !Number.isInteger(p.limit) || p.limit < 1 || p.limit > 10_000) {
          badRequest('params.limit', 'must be an integer from 1 to 10000');
        }
        params.limit = p.limit;
      }
      return { method: 'alarms.list', params };
    }
    case 'alarms.ack':
    case 'alarms.unshelve': {
      const alarmId = assertAlarmId(p.alarmId, 'params.alarmId');
      return { method: method, params: { alarmId } };
    }
    case 'alarms.transitions': {
      const params: AlarmTransitionsParams = {};
      const afterId = optInt(p, 'afterId', 0, Number.MAX_SAFE_INTEGER);
      if (afterId !== undefined) params.afterId = afterId;
      const sinceUs = optInt(p, 'sinceUs', 0, Number.MAX_SAFE_INTEGER);
      if (sinceUs !== undefined) params.sinceUs = sinceUs;
      if (p.serial !== undefined) {
        if (!isValidSerial(p.serial)) badRequest('params.serial', 'must be a serial ([A-Za-z0-9_-]{1,64})');
        params.serial = p.serial;
      }
      const limit = optInt(p, 'limit', 1, 10_000);
      if (limit !== undefined) params.limit = limit;
      return { method: 'alarms.transitions', params };
    }
    case 'alarms.shelve': {
      const alarmId = assertAlarmId(p.alarmId, 'params.alarmId');
      return {
        method: 'alarms.shelve',
        params: { alarmId, reason: reasonOf(p.reason), forMs: durationMs(p.forMs) },
      };
    }
    case 'alarms.shelves':
    case 'maintenance.list':
      return { method: method, params: {} };
    case 'alarms.stats': {
      const params: { fromUs?: number; toUs?: number } = {};
      const fromUs = optInt(p, 'fromUs', 0, Number.MAX_SAFE_INTEGER);
      if (fromUs !== undefined) params.fromUs = fromUs;
      const toUs = optInt(p, 'toUs', 0, Number.MAX_SAFE_INTEGER);
      if (toUs !== undefined) params.toUs = toUs;
      if (fromUs !== undefined && toUs !== undefined && toUs <= fromUs)
        badRequest('params.toUs', 'must be after params.fromUs');
      return { method: 'alarms.stats', params };
    }
    case 'maintenance.start':
      return {
        method: 'maintenance.start',
        params: {
          serials: serialsOf(p.serials),
          reason: p.reason === undefined ? '' : reasonOf(p.reason),
          forMs: durationMs(p.forMs),
        },
      };
    case 'maintenance.end':
      return { method: 'maintenance.end', params: { serials: serialsOf(p.serials) } };
    case 'rules.test': {
      if (typeof p.rules !== 'string' || p.rules.length === 0 || p.rules.length > 1_000_000)
        badRequest('params.rules', 'must be the rules file text (1 byte to 1 MB)');
      if (p.format !== 'yaml' && p.format !== 'json') badRequest('params.format', 'must be yaml or json');
      const fromUs = optInt(p, 'fromUs', 0, Number.MAX_SAFE_INTEGER);
      const toUs = optInt(p, 'toUs', 0, Number.MAX_SAFE_INTEGER);
      if (fromUs === undefined) badRequest('params.fromUs', 'is required');
      if (toUs === undefined || toUs <= fromUs)
        badRequest('params.toUs', 'is required and must be after params.fromUs');
      if (toUs - fromUs > MAX_BACKTEST_US) badRequest('params.toUs', 'the range may be at most 31 days');
      const params: RulesTestParams = { rules: p.rules, format: p.format, fromUs, toUs };
      if (p.selector !== undefined) {
        if (!isRecord(p.selector) || !Object.values(p.selector).every((v) => typeof v === 'string'))
          badRequest('params.selector', 'must be an object of strings');
        params.selector = p.selector as Record<string, string>;
      }
      return { method: 'rules.test', params };
    }
    default:
      return badRequest('method', `unknown method ${JSON.stringify(method)} (${ALARM_METHODS.join(', ')})`);
  }
}

export function encodeAlarmResponse<T>(response: AlarmResponse<T>): Buffer {
  return Buffer.from(JSON.stringify(response), 'utf8');
}

export interface AlarmClient {
  listAlarms(params?: AlarmListParams): Promise<AlarmRecord[]>;
  /** Acknowledges an episode; an unknown id fails with the service's error code (e.g. ALARM_NOT_FOUND). */
  ackAlarm(alarmId: string): Promise<AlarmAckResult>;
  transitions(params?: AlarmTransitionsParams): Promise<AlarmTransitionRecord[]>;
  shelve(params: AlarmShelveParams): Promise<ShelfRecord>;
  unshelve(alarmId: string): Promise<ShelfRecord>;
  shelves(): Promise<ShelfRecord[]>;
  stats(params?: { fromUs?: number; toUs?: number }): Promise<AlarmStatsRecord>;
  startMaintenance(params: MaintenanceParams): Promise<MaintenanceRecord[]>;
  endMaintenance(serials: string[]): Promise<string[]>;
  maintenance(): Promise<MaintenanceRecord[]>;
  testRules(params: RulesTestParams): Promise<RulesTestResult>;
}

/**
 * Client side of the alarm service's RPC (`iotctl alarms`). Read-only methods go to ALARM_RPC_READ_KEY,
 * the others to ALARM_RPC_QUEUE; the bus stamps every request with its broker user, which the service
 * records as the actor and checks against its grants.
 */
export function createAlarmClient(bus: Bus, opts: { timeoutMs?: number } = {}): AlarmClient {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const call = <T>(request: AlarmRequest): Promise<T> =>
    callJsonRpc<T>(
      bus,
      {
        queue: ALARM_RPC_QUEUE,
        routingKey:
          alarmMethodPermission(request.method) === undefined ? ALARM_RPC_READ_KEY : ALARM_RPC_QUEUE,
        label: 'the alarm service',
        service: 'alarm-service',
        codePrefix: 'ALARMS',
      },
      request,
      timeoutMs,
    );
  return {
    listAlarms: (params = {}) => call<AlarmRecord[]>({ method: 'alarms.list', params }),
    ackAlarm: (alarmId) =>
      call<AlarmAckResult>({ method: 'alarms.ack', params: { alarmId: assertAlarmId(alarmId) } }),
    transitions: (params = {}) => call({ method: 'alarms.transitions', params }),
    shelve: (params) =>
      call({ method: 'alarms.shelve', params: { ...params, alarmId: assertAlarmId(params.alarmId) } }),
    unshelve: (alarmId) => call({ method: 'alarms.unshelve', params: { alarmId: assertAlarmId(alarmId) } }),
    shelves: () => call({ method: 'alarms.shelves', params: {} }),
    stats: (params = {}) => call({ method: 'alarms.stats', params }),
    startMaintenance: (params) => call({ method: 'maintenance.start', params }),
    endMaintenance: (serials) => call({ method: 'maintenance.end', params: { serials } }),
    maintenance: () => call({ method: 'maintenance.list', params: {} }),
    testRules: (params) => call({ method: 'rules.test', params }),
  };
}
