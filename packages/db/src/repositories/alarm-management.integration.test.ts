import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.js';
import { alarmStats } from './alarm-stats.js';
import { claimDueNotifications, finishNotification } from './alarm-notifications.js';
import { listUnpublishedTransitions, markTransitionsPublished, pruneAlarmQueues } from './alarm-outbox.js';
import { endMaintenance, listMaintenance, startMaintenance } from './alarm-shelving.js';
import { clearAlarmsWithOutbox, type RaiseAlarmInput, raiseAlarmsWithOutbox } from './alarms.js';
import { upsertSensorsBySerial } from './sensors.js';

let db: TestDatabase;
let ids: Map<string, number>;
const NOW = Date.now() * 1000;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'alarm_mgmt_repo' });
  ids = await upsertSensorsBySerial(db.pool, ['AM-1', 'AM-2']);
});
afterAll(async () => {
  await db?.drop();
});

const raise = (serial: string, timeUs: number): RaiseAlarmInput & { notify: boolean } => ({
  alarmId: randomUUID(),
  sensorId: ids.get(serial) as number,
  rule: 'r',
  channel: 'c',
  severity: 'MAJOR',
  value: 1,
  threshold: 0,
  windowNs: 0,
  timeUs,
  message: 'm',
  notify: true,
});
const clear = (serial: string, timeUs: number) => ({
  sensorId: ids.get(serial) as number,
  rule: 'r',
  channel: 'c',
  value: 0,
  threshold: 0,
  timeUs,
  message: 'cleared: m',
  notify: true,
});

describe('alarm management repositories', () => {
  it('a transition writes its outbox row and one notification per channel; maintenance suppresses the notifications', async () => {
    const r = await raiseAlarmsWithOutbox(db.pool, [raise('AM-1', NOW - 600e6)], ['webhook', 'email']);
    const stored = [...r.values()][0];
    expect(stored).toMatchObject({ suppressedBy: null });
    expect((await listUnpublishedTransitions(db.pool, 0)).map((t) => t.transitionId)).toEqual([
      stored?.transitionId,
    ]);
    expect(await markTransitionsPublished(db.pool, [stored?.transitionId as number])).toBe(1);
    expect(await markTransitionsPublished(db.pool, [stored?.transitionId as number])).toBe(0); // once
    expect(await listUnpublishedTransitions(db.pool, 0)).toEqual([]);
    const due = await claimDueNotifications(db.pool, 10, 60_000);
    expect(due.map((d) => [d.channel, d.transition, d.serial])).toEqual([
      ['webhook', 'RAISED', 'AM-1'],
      ['email', 'RAISED', 'AM-1'],
    ]);
    expect(await claimDueNotifications(db.pool, 10, 60_000)).toEqual([]); // leased
    for (const d of due) await finishNotification(db.pool, d.id, 'DELIVERED');

    const m = await startMaintenance(db.pool, {
      serials: ['AM-1', 'NOPE'],
      by: 'iotctl:x',
      reason: 'swap',
      forMs: 60_000,
    });
    expect(m.map((x) => x.serial)).toEqual(['AM-1']);
    expect((await listMaintenance(db.pool)).map((x) => x.serial)).toEqual(['AM-1']);
    const [c] = await clearAlarmsWithOutbox(db.pool, [clear('AM-1', NOW - 590e6)], ['webhook', 'email']);
    expect(c?.suppressedBy).toBe('maintenance');
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n FROM alarm_notifications WHERE transition_id = $1',
      [c?.transitionId],
    );
    expect(rows).toEqual([{ n: 0 }]);
    expect(await endMaintenance(db.pool, ['AM-1'])).toEqual(['AM-1']);
    expect(await listMaintenance(db.pool)).toEqual([]);
    // done rows are pruned after the keep time; pending ones stay
    expect(await pruneAlarmQueues(db.pool, 3_600_000)).toBe(0);
    expect(await pruneAlarmQueues(db.pool, 0)).toBe(3); // 1 published outbox row + 2 delivered notifications
    expect((await listUnpublishedTransitions(db.pool, 0)).map((t) => t.transitionId)).toEqual([
      c?.transitionId,
    ]);
  });

  it('EEMUA figures: rate, peak, flood, standing, chattering (3 raises within a minute), bad actors', async () => {
    // 10-minute intervals are fixed (epoch / 600 s): start the three raises 1 min into one, about 50 min
    // ago, so they never straddle an interval boundary (before, ~7% of runs saw a peak of 2).
    const base = Math.floor((NOW - 3000e6) / 600e6) * 600e6 + 60e6;
    // AM-2 chatters: raised and cleared 3 times within 50 s
    for (let i = 0; i < 3; i++) {
      await raiseAlarmsWithOutbox(db.pool, [raise('AM-2', base + i * 20e6)], []);
      await clearAlarmsWithOutbox(db.pool, [clear('AM-2', base + i * 20e6 + 5e6)], []);
    }
    const s = await alarmStats(db.pool, NOW - 3600e6, NOW);
    expect(s.raised).toBe(4); // 3 of AM-2 and the one of AM-1
    expect(s.averagePer10Min).toBeCloseTo(4 / 6);
    expect(s.peakPer10Min).toBe(3);
    expect(s.floodPercent).toBe(0);
    expect(s.standing).toBe(0);
    expect(s.chattering).toEqual([{ serial: 'AM-2', rule: 'r', channel: 'c', raisesInAMinute: 3 }]);
    expect(s.topBadActors.map((b) => [b.serial, b.raised, b.percent])).toEqual([
      ['AM-2', 3, 75],
      ['AM-1', 1, 25],
    ]);
  });
});
