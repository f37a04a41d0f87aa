import type { RpcRequest } from '@sensor-streaming/bus';
import {
  ALARM_RPC_QUEUE,
  type AlarmRecord,
  type AlarmRequest,
  type AlarmResponse,
  type AlarmStatsRecord,
  alarmMethodPermission,
  ControlError,
  encodeAlarmResponse,
  type MaintenanceRecord,
  parseAlarmRequest,
  type ShelfRecord,
} from '@sensor-streaming/control';
import {
  type AlarmEpisode,
  acknowledgeAlarm,
  alarmStats,
  endMaintenance,
  listAlarms,
  listAlarmTransitions,
  listMaintenance,
  listShelves,
  type Maintenance,
  type NotificationChannel,
  type Queryable,
  type Shelf,
  shelveAlarm,
  startMaintenance,
  unshelveAlarm,
} from '@sensor-streaming/db';

import { BacktestError, runBacktest } from './backtest.js';
import type { AlarmGrants } from './grants.js';
import { parseRuleFile, RuleFileError } from './rules/rule-set.js';

// The server side of the one alarm RPC contract (packages/control/src/alarm-rpc.ts).
export { ALARM_RPC_QUEUE, ALARM_RPC_READ_KEY } from '@sensor-streaming/control';

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();
const isoOrNull = (us: number | null): string | null => (us === null ? null : iso(us));

export function toAlarmRecord(e: AlarmEpisode): AlarmRecord {
  return {
    alarmId: e.alarmId,
    serial: e.serial,
    rule: e.rule,
    channel: e.channel,
    severity: e.severity,
    value: e.value,
    threshold: e.threshold,
    windowNs: e.windowNs,
    message: e.message,
    raisedAt: iso(e.raisedAtUs),
    acknowledgedAt: isoOrNull(e.acknowledgedAtUs),
    acknowledgedBy: e.acknowledgedBy,
    clearedAt: isoOrNull(e.clearedAtUs),
    active: e.clearedAtUs === null,
  };
}

const toShelfRecord = (s: Shelf): ShelfRecord => ({
  alarmId: s.alarmId,
  serial: s.serial,
  rule: s.rule,
  channel: s.channel,
  reason: s.reason,
  shelvedBy: s.shelvedBy,
  shelvedAt: iso(s.shelvedAtUs),
  expiresAt: iso(s.expiresAtUs),
});

const toMaintenanceRecord = (m: Maintenance): MaintenanceRecord => ({
  serial: m.serial,
  reason: m.reason,
  startedBy: m.startedBy,
  startedAt: iso(m.startedAtUs),
  endsAt: iso(m.endsAtUs),
});

const notFound = (alarmId: string): AlarmResponse<never> => ({
  ok: false,
  error: { code: 'ALARM_NOT_FOUND', message: `no alarm with id ${alarmId}` },
});

export interface AlarmRpcDeps {
  db: Queryable;
  /** Notification channels configured (an alarm coming back from the shelf is notified on them). */
  channels: () => readonly NotificationChannel[];
  /** Called after an unshelve queued notifications. */
  onQueued?: () => void;
  /** Who may call the methods that change alarms (ALARM_RPC_GRANTS). */
  grants: AlarmGrants;
  /** Told of every refused request (the service logs it: an audit trail of attempts). */
  onRefused?: (refusal: { user: string | undefined; method: string; reason: string }) => void;
}

/**
 * Why a request that changes alarms is refused, or undefined when it may go on. The user is the request's
 * broker-validated user_id; a request without one, or sent on the read-only routing key, is refused too.
 */
export function alarmRpcRefusal(
  method: AlarmRequest['method'],
  req: Pick<RpcRequest, 'userId' | 'routingKey'>,
  grants: AlarmGrants,
): { code: string; message: string } | undefined {
  const permission = alarmMethodPermission(method);
  if (permission === undefined) return undefined;
  if (req.routingKey !== ALARM_RPC_QUEUE)
    return {
      code: 'ALARM_FORBIDDEN',
      message: `${method} changes alarms: it is served on ${ALARM_RPC_QUEUE} only, not on the read-only key ${req.routingKey}`,
    };
  if (req.userId === undefined)
    return {
      code: 'ALARM_FORBIDDEN',
      message: `${method} needs the permission ${permission}: the request carries no broker-validated user_id`,
    };
  if (!grants.allows(req.userId, permission))
    return {
      code: 'ALARM_FORBIDDEN',
      message: `user ${req.userId} lacks the permission ${permission} (needed for ${method})`,
    };
  return undefined;
}

/**
 * The RPC handler: answers `{ ok: true, result }`, or `{ ok: false, error: { code, message } }`
 * for a bad request or an unknown alarm. Database failures throw (the bus replies with its error header).
 */
export function createAlarmRpcHandler(deps: AlarmRpcDeps): (req: RpcRequest) => Promise<Buffer> {
  const { db } = deps;
  async function answer(req: RpcRequest): Promise<AlarmResponse<unknown>> {
    const r = parseAlarmRequest(req.body);
    const refused = alarmRpcRefusal(r.method, req, deps.grants);
    if (refused !== undefined) {
      deps.onRefused?.({ user: req.userId, method: r.method, reason: refused.message });
      return { ok: false, error: refused };
    }
    // the actor recorded: the broker-validated user (alarmRpcRefusal guarantees one for these methods)
    const by = req.userId ?? '';
    switch (r.method) {
      case 'alarms.list':
        return {
          ok: true,
          result: (await listAlarms(db, r.params)).map((e) => ({
            ...toAlarmRecord(e),
            ...(e.shelvedUntilUs === null ? {} : { shelvedUntil: iso(e.shelvedUntilUs) }),
          })),
        };
      case 'alarms.transitions':
        return { ok: true, result: await listAlarmTransitions(db, r.params) };
      case 'alarms.ack': {
        const ack = await acknowledgeAlarm(db, r.params.alarmId, by);
        if (ack.status === 'NOT_FOUND') return notFound(r.params.alarmId);
        return { ok: true, result: { status: ack.status, alarm: toAlarmRecord(ack.episode) } };
      }
      case 'alarms.shelve': {
        const shelf = await shelveAlarm(db, { ...r.params, by });
        return shelf === undefined ? notFound(r.params.alarmId) : { ok: true, result: toShelfRecord(shelf) };
      }
      case 'alarms.unshelve': {
        const shelf = await unshelveAlarm(db, r.params.alarmId, by, deps.channels());
        if (shelf === undefined)
          return {
            ok: false,
            error: { code: 'ALARM_NOT_SHELVED', message: `alarm ${r.params.alarmId} is not shelved` },
          };
        deps.onQueued?.();
        return { ok: true, result: toShelfRecord(shelf) };
      }
      case 'alarms.shelves':
        return { ok: true, result: (await listShelves(db)).map(toShelfRecord) };
      case 'alarms.stats': {
        const toUs = r.params.toUs ?? Date.now() * 1000;
        const fromUs = r.params.fromUs ?? toUs - 24 * 3600e6;
        const s = await alarmStats(db, fromUs, toUs);
        const result: AlarmStatsRecord = { ...s, from: iso(s.fromUs), to: iso(s.toUs) };
        delete (result as Partial<typeof s>).fromUs;
        delete (result as Partial<typeof s>).toUs;
        return { ok: true, result };
      }
      case 'maintenance.start':
        return {
          ok: true,
          result: (await startMaintenance(db, { ...r.params, by })).map(toMaintenanceRecord),
        };
      case 'maintenance.end':
        return { ok: true, result: await endMaintenance(db, r.params.serials) };
      case 'maintenance.list':
        return { ok: true, result: (await listMaintenance(db)).map(toMaintenanceRecord) };
      case 'rules.test': {
        let rules: ReturnType<typeof parseRuleFile>;
        try {
          rules = parseRuleFile(r.params.rules, r.params.format);
        } catch (err) {
          if (!(err instanceof RuleFileError)) throw err;
          return { ok: false, error: { code: 'RULES_INVALID', message: err.message } };
        }
        try {
          const result = await runBacktest(db, rules, {
            fromUs: r.params.fromUs,
            toUs: r.params.toUs,
            ...(r.params.selector ? { selector: r.params.selector } : {}),
          });
          return { ok: true, result: { ...result, problems: rules.problems } };
        } catch (err) {
          if (!(err instanceof BacktestError)) throw err;
          return { ok: false, error: { code: err.code, message: err.message } };
        }
      }
    }
  }
  return async (req) => {
    let response: AlarmResponse<unknown>;
    try {
      response = await answer(req);
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      response = { ok: false, error: { code: err.code, message: err.message } };
    }
    return encodeAlarmResponse(response);
  };
}
