import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.js';
import {
  acknowledgeAlarm,
  type ClearAlarmInput,
  clearAlarmsWithOutbox,
  getSensorProfiles,
  listAlarms,
  listAlarmTransitions,
  listOpenAlarms,
  loadAlarmModelStates,
  type RaiseAlarmInput,
  raiseAlarmsWithOutbox,
  recordIssuedCommand,
  type StoredTransition,
  saveAlarmModelStates,
  tryAdvisoryLock,
} from './alarms.js';
import { upsertSensorsBySerial } from './sensors.js';

let db: TestDatabase;
let sensorId: number;
const T0 = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123; // µs, with a sub-millisecond part

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'alarms_repo' });
  sensorId = (await upsertSensorsBySerial(db.pool, ['AL-1'])).get('AL-1') as number;
  await db.pool.query(`UPDATE sensors SET kind = 'pump', labels = '{"site":"north"}' WHERE id = $1`, [
    sensorId,
  ]);
});
afterAll(async () => {
  await db?.drop();
});

function raise(over: Partial<RaiseAlarmInput> = {}): RaiseAlarmInput {
  return {
    alarmId: randomUUID(),
    sensorId,
    rule: 'temp-high',
    channel: 'temperature',
    severity: 'MAJOR',
    value: 31.5,
    threshold: 30,
    windowNs: 60e9,
    timeUs: T0,
    message: 'hot',
    ...over,
  };
}

type ClearedAlarm = Pick<StoredTransition, 'alarmId' | 'severity' | 'windowNs' | 'timeUs'>;

// The service's write path (with outbox rows, no notification channels), one
// alarm or many per statement.
async function raiseAlarms(list: readonly RaiseAlarmInput[]): Promise<Set<string>> {
  const raised = await raiseAlarmsWithOutbox(
    db.pool,
    list.map((a) => ({ ...a, notify: false })),
    [],
  );
  return new Set(raised.keys());
}
const raiseAlarm = async (a: RaiseAlarmInput): Promise<boolean> => (await raiseAlarms([a])).has(a.alarmId);
async function clearAlarms(list: readonly ClearAlarmInput[]): Promise<Array<ClearedAlarm | undefined>> {
  const cleared = await clearAlarmsWithOutbox(
    db.pool,
    list.map((c) => ({ ...c, notify: false })),
    [],
  );
  return cleared.map(
    (t) => t && { alarmId: t.alarmId, severity: t.severity, windowNs: t.windowNs, timeUs: t.timeUs },
  );
}
const clearAlarm = async (c: ClearAlarmInput): Promise<ClearedAlarm | undefined> =>
  (await clearAlarms([c]))[0];

describe('alarm repository', () => {
  it('raises once per open episode even when many raises race, then clears and re-raises', async () => {
    const attempts = Array.from({ length: 8 }, () => raise({ rule: 'race' }));
    const won = await Promise.all(attempts.map((a) => raiseAlarm(a)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = attempts[won.indexOf(true)] as RaiseAlarmInput;

    const open = (await listOpenAlarms(db.pool)).filter((e) => e.rule === 'race');
    expect(open).toMatchObject([
      { alarmId: winner.alarmId, serial: 'AL-1', raisedAtUs: T0, clearedAtUs: null },
    ]);

    const cleared = await clearAlarm({
      sensorId,
      rule: 'race',
      channel: 'temperature',
      value: 20,
      threshold: 28,
      timeUs: T0 + 5_000_000,
      message: 'cool',
    });
    expect(cleared).toEqual({
      alarmId: winner.alarmId,
      severity: 'MAJOR',
      windowNs: 60e9,
      timeUs: T0 + 5_000_000,
    });
    // a second clear (another replica) finds nothing open
    expect(
      await clearAlarm({
        sensorId,
        rule: 'race',
        channel: 'temperature',
        value: 1,
        threshold: 1,
        timeUs: T0 + 6e6,
        message: '',
      }),
    ).toBeUndefined();
    expect(await raiseAlarm(raise({ rule: 'race', timeUs: T0 + 7e6 }))).toBe(true); // new episode

    const tr = (await listAlarmTransitions(db.pool, { serial: 'AL-1' })).filter((t) => t.rule === 'race');
    expect(tr.map((t) => [t.transition, t.timeUs])).toEqual([
      ['RAISED', T0],
      ['CLEARED', T0 + 5e6],
      ['RAISED', T0 + 7e6],
    ]);
    expect(
      await listAlarmTransitions(db.pool, { afterId: tr[1]?.id as number, serial: 'AL-1' }),
    ).toHaveLength(1);
    // every stored transition has its outbox row, written in the same statement
    const { rows: outbox } = await db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM alarm_outbox WHERE transition_id = ANY($1::bigint[])',
      [tr.map((t) => t.id)],
    );
    expect(Number(outbox[0]?.n)).toBe(3);
  });

  it('raises and clears many alarms in one statement each', async () => {
    const open = raise({ rule: 'bulk-b' });
    expect(await raiseAlarm(open)).toBe(true); // already open: not raised again
    const batch = [
      raise({ rule: 'bulk-a' }),
      raise({ rule: 'bulk-b' }),
      raise({ rule: 'bulk-c', channel: '' }),
    ];
    const raised = await raiseAlarms(batch);
    expect([...raised].sort()).toEqual([batch[0]?.alarmId, batch[2]?.alarmId].sort());
    const cleared = await clearAlarms([
      { sensorId, rule: 'bulk-c', channel: '', value: 1, threshold: 2, timeUs: T0 + 1e6, message: 'c' },
      { sensorId, rule: 'bulk-none', channel: '', value: 1, threshold: 2, timeUs: T0 + 1e6, message: 'x' },
      {
        sensorId,
        rule: 'bulk-b',
        channel: 'temperature',
        value: 3,
        threshold: 4,
        timeUs: T0 + 2e6,
        message: 'b',
      },
    ]);
    expect(cleared).toEqual([
      { alarmId: batch[2]?.alarmId, severity: 'MAJOR', windowNs: 60e9, timeUs: T0 + 1e6 },
      undefined,
      { alarmId: open.alarmId, severity: 'MAJOR', windowNs: 60e9, timeUs: T0 + 2e6 },
    ]);
    const tr = (await listAlarmTransitions(db.pool, { serial: 'AL-1' })).filter((t) =>
      t.rule.startsWith('bulk-'),
    );
    // rows of one statement have no defined order among themselves: compare as sets
    expect(tr.map((t) => `${t.rule} ${t.transition} ${t.value} ${t.message}`).sort()).toEqual([
      'bulk-a RAISED 31.5 hot',
      'bulk-b CLEARED 3 b',
      'bulk-b RAISED 31.5 hot',
      'bulk-c CLEARED 1 c',
      'bulk-c RAISED 31.5 hot',
    ]);
  });

  it('keeps the clear time at or after the raise time', async () => {
    await raiseAlarm(raise({ rule: 'skew', timeUs: T0 + 10e6 }));
    const c = await clearAlarm({
      sensorId,
      rule: 'skew',
      channel: 'temperature',
      value: 0,
      threshold: 0,
      timeUs: T0,
      message: '',
    });
    expect(c?.timeUs).toBe(T0 + 10e6);
  });

  it('acknowledges once, lists with filters', async () => {
    const a = raise({ rule: 'ack-me', severity: 'CRITICAL' });
    await raiseAlarm(a);
    const first = await acknowledgeAlarm(db.pool, a.alarmId, 'iotctl:alice');
    expect(first).toMatchObject({
      status: 'ACKNOWLEDGED',
      episode: { alarmId: a.alarmId, acknowledgedBy: 'iotctl:alice' },
    });
    expect(await acknowledgeAlarm(db.pool, a.alarmId, 'iotctl:bob')).toMatchObject({
      status: 'ALREADY_ACKNOWLEDGED',
      episode: { acknowledgedBy: 'iotctl:alice' },
    });
    expect(await acknowledgeAlarm(db.pool, randomUUID(), 'x')).toEqual({ status: 'NOT_FOUND' });
    const crit = await listAlarms(db.pool, { severity: 'CRITICAL', active: true });
    expect(crit.map((e) => e.alarmId)).toEqual([a.alarmId]);
    expect((await listAlarms(db.pool, { active: false })).every((e) => e.clearedAtUs !== null)).toBe(true);
    const tr = await listAlarmTransitions(db.pool, {});
    expect(tr.filter((t) => t.alarmId === a.alarmId).map((t) => t.transition)).toEqual([
      'RAISED',
      'ACKNOWLEDGED',
    ]);
  });

  it('saves and loads model states, and reads sensor profiles', async () => {
    await saveAlarmModelStates(db.pool, [
      { sensorId, channel: 'vibration', model: 'spike', params: { mean: 1.5, variance: 0.25 }, samples: 100 },
    ]);
    await saveAlarmModelStates(db.pool, [
      { sensorId, channel: 'vibration', model: 'spike', params: { mean: 2, variance: 0.5 }, samples: 200 },
    ]);
    expect(await loadAlarmModelStates(db.pool)).toEqual([
      {
        serial: 'AL-1',
        channel: 'vibration',
        model: 'spike',
        params: { mean: 2, variance: 0.5 },
        samples: 200,
      },
    ]);
    expect(await getSensorProfiles(db.pool, ['AL-1', 'NOPE'])).toEqual([
      {
        serial: 'AL-1',
        kind: 'pump',
        labels: { site: 'north' },
        reportedState: null,
        reportedFrequencyHz: null,
      },
    ]);
  });

  it('records an issued command once and takes an advisory lock on one session only', async () => {
    const c = {
      commandId: randomUUID(),
      sensorId,
      serial: 'AL-1',
      type: 'changesamplefrequency' as const,
      params: { sampleFrequencyHz: 1000 },
      issuedBy: 'alarm-service:vib',
      issuedAtUs: T0,
      expiresAtUs: T0 + 60e6,
    };
    expect(await recordIssuedCommand(db.pool, c)).toBe(true);
    expect(await recordIssuedCommand(db.pool, c)).toBe(false);
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      expect(await tryAdvisoryLock(a, 'alarm-service')).toBe(true);
      expect(await tryAdvisoryLock(b, 'alarm-service')).toBe(false);
    } finally {
      a.release(true);
      b.release(true);
    }
  });
});
