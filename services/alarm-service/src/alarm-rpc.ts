import type { Bus, RpcRequest } from '@sensor-streaming/bus';
import {
  type AlarmEpisode,
  type AlarmSeverityName,
  type AlarmTransitionRecord,
  acknowledgeAlarm,
  listAlarms,
  listAlarmTransitions,
  type Queryable,
} from '@sensor-streaming/db';
import { assertSerial, CONTENT_TYPE_JSON, isProtocolError } from '@sensor-streaming/protocol';

/** Every alarm-service replica serves these requests on this queue (default exchange, by queue name). */
export const ALARM_RPC_QUEUE = 'alarm-service.rpc';

const SEVERITIES: readonly AlarmSeverityName[] = ['INFO', 'WARNING', 'MAJOR', 'CRITICAL'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ACTOR = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

export type AlarmRequest =
  | {
      method: 'alarms.list';
      params: {
        active?: boolean;
        serial?: string;
        rule?: string;
        severity?: AlarmSeverityName;
        sinceUs?: number;
        limit?: number;
      };
    }
  | { method: 'alarms.ack'; params: { alarmId: string; by: string } }
  | {
      method: 'alarms.transitions';
      params: { afterId?: number; sinceUs?: number; serial?: string; limit?: number };
    };

/** An alarm episode as the RPC returns it (times as ISO 8601 and µs). */
export interface AlarmView extends AlarmEpisode {
  active: boolean;
  raisedAt: string;
  acknowledgedAt: string | null;
  clearedAt: string | null;
}

export type AlarmResponse<T> =
  | { ok: true; result: T }
  | { ok: false; error: { code: string; message: string } };

export class AlarmRpcError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AlarmRpcError';
  }
}

function bad(field: string, reason: string): never {
  throw new AlarmRpcError('ALARM_BAD_REQUEST', `${field}: ${reason}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optInt(p: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = p[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    bad(`params.${k}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function optSerial(p: Record<string, unknown>): string | undefined {
  if (p.serial === undefined) return undefined;
  try {
    return assertSerial(p.serial, 'params.serial');
  } catch (err) {
    if (isProtocolError(err)) bad('params.serial', err.reason);
    throw err;
  }
}

/** Validates a JSON request body; throws AlarmRpcError (code ALARM_BAD_REQUEST) naming the bad field. */
export function parseAlarmRequest(body: Buffer): AlarmRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    bad('body', 'is not valid JSON');
  }
  if (!isRecord(raw)) bad('body', 'must be a JSON object');
  const p = raw.params ?? {};
  if (!isRecord(p)) bad('params', 'must be an object');
  switch (raw.method) {
    case 'alarms.list': {
      const params: Extract<AlarmRequest, { method: 'alarms.list' }>['params'] = {};
      if (p.active !== undefined) {
        if (typeof p.active !== 'boolean') bad('params.active', 'must be a boolean');
        params.active = p.active;
      }
      const serial = optSerial(p);
      if (serial !== undefined) params.serial = serial;
      if (p.rule !== undefined) {
        if (typeof p.rule !== 'string' || !RULE.test(p.rule)) bad('params.rule', `must match ${RULE.source}`);
        params.rule = p.rule;
      }
      if (p.severity !== undefined) {
        if (!SEVERITIES.includes(p.severity as AlarmSeverityName)) {
          bad('params.severity', `must be one of ${SEVERITIES.join(', ')}`);
        }
        params.severity = p.severity as AlarmSeverityName;
      }
      const sinceUs = optInt(p, 'sinceUs', 0, Number.MAX_SAFE_INTEGER);
      if (sinceUs !== undefined) params.sinceUs = sinceUs;
      const limit = optInt(p, 'limit', 1, 10_000);
      if (limit !== undefined) params.limit = limit;
      return { method: 'alarms.list', params };
    }
    case 'alarms.ack': {
      if (typeof p.alarmId !== 'string' || !UUID.test(p.alarmId))
        bad('params.alarmId', 'must be an alarm id (uuid)');
      if (typeof p.by !== 'string' || !ACTOR.test(p.by)) bad('params.by', `must match ${ACTOR.source}`);
      return { method: 'alarms.ack', params: { alarmId: p.alarmId.toLowerCase(), by: p.by } };
    }
    case 'alarms.transitions': {
      const params: Extract<AlarmRequest, { method: 'alarms.transitions' }>['params'] = {};
      const afterId = optInt(p, 'afterId', 0, Number.MAX_SAFE_INTEGER);
      if (afterId !== undefined) params.afterId = afterId;
      const sinceUs = optInt(p, 'sinceUs', 0, Number.MAX_SAFE_INTEGER);
      if (sinceUs !== undefined) params.sinceUs = sinceUs;
      const serial = optSerial(p);
      if (serial !== undefined) params.serial = serial;
      const limit = optInt(p, 'limit', 1, 10_000);
      if (limit !== undefined) params.limit = limit;
      return { method: 'alarms.transitions', params };
    }
    default:
      return bad(
        'method',
        `unknown method ${JSON.stringify(raw.method)} (alarms.list, alarms.ack, alarms.transitions)`,
      );
  }
}

const iso = (us: number | null): string | null =>
  us === null ? null : new Date(Math.floor(us / 1000)).toISOString();

export function toAlarmView(e: AlarmEpisode): AlarmView {
  return {
    ...e,
    active: e.clearedAtUs === null,
    raisedAt: iso(e.raisedAtUs) as string,
    acknowledgedAt: iso(e.acknowledgedAtUs),
    clearedAt: iso(e.clearedAtUs),
  };
}

/**
 * The RPC handler: answers `{ ok: true, result }`, or `{ ok: false, error: { code, message } }`
 * for a bad request or an unknown alarm. Database failures throw (the bus replies with its error header).
 */
export function createAlarmRpcHandler(db: Queryable): (req: RpcRequest) => Promise<Buffer> {
  return async (req) => {
    let response: AlarmResponse<unknown>;
    try {
      const r = parseAlarmRequest(req.body);
      if (r.method === 'alarms.list') {
        response = { ok: true, result: (await listAlarms(db, r.params)).map(toAlarmView) };
      } else if (r.method === 'alarms.transitions') {
        response = { ok: true, result: await listAlarmTransitions(db, r.params) };
      } else {
        const ack = await acknowledgeAlarm(db, r.params.alarmId, r.params.by);
        response =
          ack.status === 'NOT_FOUND'
            ? {
                ok: false,
                error: { code: 'ALARM_NOT_FOUND', message: `no alarm with id ${r.params.alarmId}` },
              }
            : { ok: true, result: { status: ack.status, alarm: toAlarmView(ack.episode) } };
      }
    } catch (err) {
      if (!(err instanceof AlarmRpcError)) throw err;
      response = { ok: false, error: { code: err.code, message: err.message } };
    }
    return Buffer.from(JSON.stringify(response), 'utf8');
  };
}

export interface AlarmClient {
  list(params?: Extract<AlarmRequest, { method: 'alarms.list' }>['params']): Promise<AlarmView[]>;
  ack(
    alarmId: string,
    by: string,
  ): Promise<{ status: 'ACKNOWLEDGED' | 'ALREADY_ACKNOWLEDGED'; alarm: AlarmView }>;
  transitions(
    params?: Extract<AlarmRequest, { method: 'alarms.transitions' }>['params'],
  ): Promise<AlarmTransitionRecord[]>;
}

/** Client side (iotctl): throws AlarmRpcError with the server's code (e.g. ALARM_NOT_FOUND). */
export function createAlarmClient(bus: Bus, opts: { timeoutMs?: number } = {}): AlarmClient {
  async function call<T>(request: AlarmRequest): Promise<T> {
    const reply = await bus.rpcCall(ALARM_RPC_QUEUE, Buffer.from(JSON.stringify(request), 'utf8'), {
      timeoutMs: opts.timeoutMs ?? 5000,
      contentType: CONTENT_TYPE_JSON,
    });
    const parsed = JSON.parse(reply.body.toString('utf8')) as AlarmResponse<T>;
    if (!parsed.ok) throw new AlarmRpcError(parsed.error.code, parsed.error.message);
    return parsed.result;
  }
  return {
    list: (params = {}) => call({ method: 'alarms.list', params }),
    ack: (alarmId, by) => call({ method: 'alarms.ack', params: { alarmId, by } }),
    transitions: (params = {}) => call({ method: 'alarms.transitions', params }),
  };
}
