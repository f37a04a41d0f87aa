import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/index.js';
import {
  applyCommandAcks,
  listRegistryCommands,
  markCommandsExpired,
  markCommandsTimedOut,
  recordCommands,
} from './registry-commands.js';
import { findReconcileCandidates, getRegistrySensor, listRegistrySensors } from './registry-sensors.js';
import {
  applySensorStates,
  countSensorsByState,
  markSilentSensorsOffline,
  recordSensorTraffic,
  type SensorStateInput,
} from './registry-states.js';
import { upsertSensorsBySerial } from './sensors.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const nowUs = () => Date.now() * 1000;

function state(serial: string, o: Partial<SensorStateInput> = {}): SensorStateInput {
  return {
    serial,
    kind: 'vibration',
    labels: { site: 'north', machine: 'crane-1' },
    channels: ['vibration'],
    firmware: '1.2.3',
    location: { lat: 59.3, lon: 18.1 },
    state: 'AWAKE',
    sampleFrequencyHz: 100,
    minFrequencyHz: 1,
    maxFrequencyHz: 1000,
    uptimeS: 5,
    reason: 'BIRTH',
    timeUs: nowUs(),
    ...o,
  };
}

async function changes(serial: string): Promise<Array<{ state: string; reason: string }>> {
  const { rows } = await db.pool.query(
    `SELECT c.state, c.reason FROM sensor_state_changes c JOIN sensors s ON s.id = c.sensor_id
     WHERE s.serial = $1 ORDER BY c.time`,
    [serial],
  );
  return rows;
}

describe('registry repository', () => {
  it('fills in a bare row created from data, once, and ignores an older state than the stored one', async () => {
    const ids = await upsertSensorsBySerial(db.pool, ['reg-bare']);
    const t = nowUs() - 5_000_000;
    const [first] = await applySensorStates(db.pool, [state('reg-bare', { timeUs: t })]);
    expect(first).toEqual({ serial: 'reg-bare', registered: false, wasOffline: true, applied: true });
    const again = await applySensorStates(db.pool, [state('reg-bare', { timeUs: t })]);
    expect(again[0]?.applied).toBe(true);
    const stale = await applySensorStates(db.pool, [
      state('reg-bare', { timeUs: t - 1_000_000, state: 'ASLEEP', reason: 'CHANGE' }),
    ]);
    expect(stale[0]?.applied).toBe(false);
    const { rows } = await db.pool.query(
      'SELECT id, kind, reported_state, online, channels, latitude FROM sensors WHERE serial = $1',
      ['reg-bare'],
    );
    expect(rows).toEqual([
      {
        id: String(ids.get('reg-bare')),
        kind: 'vibration',
        reported_state: 'AWAKE',
        online: true,
        channels: ['vibration'],
        latitude: 59.3,
      },
    ]);
  });

  it('keeps the newest state of a batch, records births/changes/wills but not steady heartbeats', async () => {
    const t = nowUs() - 10_000_000;
    const out = await applySensorStates(db.pool, [
      state('reg-hist', { timeUs: t }),
      state('reg-hist', { timeUs: t + 1_000_000, reason: 'HEARTBEAT' }),
      state('reg-hist', { timeUs: t + 2_000_000, reason: 'CHANGE', state: 'ASLEEP' }),
    ]);
    expect(out).toEqual([{ serial: 'reg-hist', registered: true, wasOffline: true, applied: true }]);
    await applySensorStates(db.pool, [
      state('reg-hist', { timeUs: t + 3_000_000, reason: 'HEARTBEAT', state: 'ASLEEP' }),
    ]);
    await applySensorStates(db.pool, [
      state('reg-hist', { timeUs: t + 4_000_000, reason: 'WILL', state: 'OFFLINE' }),
    ]);
    expect((await changes('reg-hist')).map((c) => `${c.state}/${c.reason}`)).toEqual([
      'AWAKE/BIRTH',
      'ASLEEP/CHANGE',
      'OFFLINE/WILL',
    ]);
    const sensor = await getRegistrySensor(db.pool, 'reg-hist');
    expect(sensor?.online).toBe(false);
    expect(sensor?.reportedState).toBe('OFFLINE');
  });

  it('orders a session restart by the sensor clock: a WILL after the next BIRTH is ignored', async () => {
    const t = nowUs() - 5_000_000;
    // same batch, the next session's BIRTH delivered before the old session's WILL
    await applySensorStates(db.pool, [
      state('reg-restart', { timeUs: t + 2_000_000, reason: 'BIRTH' }),
      state('reg-restart', { timeUs: t + 1_000_000, reason: 'WILL', state: 'OFFLINE' }),
    ]);
    expect((await getRegistrySensor(db.pool, 'reg-restart'))?.online).toBe(true);
    // a later batch: a WILL older than what was seen changes nothing and is not history
    const late = await applySensorStates(db.pool, [
      state('reg-restart', { timeUs: t + 1_500_000, reason: 'WILL', state: 'OFFLINE' }),
    ]);
    expect(late[0]?.applied).toBe(false);
    expect((await getRegistrySensor(db.pool, 'reg-restart'))?.online).toBe(true);
    expect((await changes('reg-restart')).map((c) => `${c.state}/${c.reason}`)).toEqual([
      'OFFLINE/WILL',
      'AWAKE/BIRTH',
    ]);
  });

  it('marks silent sensors offline in one sweep and counts the fleet by state', async () => {
    await applySensorStates(db.pool, [state('reg-silent'), state('reg-talking')]);
    // silence is measured on the registry's clock (last_seen_at is the receive time): age it by hand
    await db.pool.query(
      "UPDATE sensors SET last_seen_at = now() - interval '60 seconds' WHERE serial = 'reg-silent'",
    );
    const off = await markSilentSensorsOffline(db.pool, 30_000);
    expect(off).toContain('reg-silent');
    expect(off).not.toContain('reg-talking');
    expect(await markSilentSensorsOffline(db.pool, 30_000)).toEqual([]);
    expect((await changes('reg-silent')).at(-1)).toEqual({ state: 'OFFLINE', reason: 'SILENCE' });
    const counts = await countSensorsByState(db.pool);
    expect(counts.offline).toBeGreaterThanOrEqual(2);
    expect(counts.awake).toBeGreaterThanOrEqual(1);
  });

  it('records commands once, sets desired state, settles them from acks with a round trip', async () => {
    await applySensorStates(db.pool, [state('reg-cmd')]);
    const issuedAtUs = nowUs() - 250_000;
    const id = '5b3f1f7e-6a7c-4f7e-9d38-1c2b3a4d5e6f';
    const cmd = {
      commandId: id,
      serial: 'reg-cmd',
      type: 'sleep' as const,
      issuedBy: 'test',
      issuedAtUs,
      expiresAtUs: issuedAtUs + 60_000_000,
    };
    const first = await recordCommands(
      db.pool,
      [cmd, { ...cmd, serial: 'reg-nobody', commandId: crypto.randomUUID() }],
      [{ serial: 'reg-cmd', state: 'ASLEEP' }],
    );
    expect(first).toEqual({ inserted: [id], unknownSerials: ['reg-nobody'] });
    expect((await recordCommands(db.pool, [cmd], [])).inserted).toEqual([]);
    expect((await getRegistrySensor(db.pool, 'reg-cmd'))?.desiredState).toBe('ASLEEP');
    expect(await findReconcileCandidates(db.pool, ['reg-cmd'])).toEqual([]); // pending command

    const [ack] = await applyCommandAcks(db.pool, [
      { commandId: id, status: 'APPLIED', reason: '', timeUs: issuedAtUs + 40_000, state: 'ASLEEP' },
    ]);
    expect(ack).toEqual({
      commandId: id,
      known: true,
      updated: true,
      type: 'sleep',
      status: 'APPLIED',
      rttMs: 40,
    });
    const dup = await applyCommandAcks(db.pool, [
      { commandId: id, status: 'APPLIED', reason: '', timeUs: issuedAtUs + 90_000 },
    ]);
    expect(dup[0]).toMatchObject({ known: true, updated: false, status: 'APPLIED' });
    const unknown = await applyCommandAcks(db.pool, [
      { commandId: crypto.randomUUID(), status: 'APPLIED', reason: '', timeUs: nowUs() },
    ]);
    expect(unknown[0]).toMatchObject({ known: false, updated: false });
    // still AWAKE while desired ASLEEP and nothing pending: a reconcile candidate
    expect((await findReconcileCandidates(db.pool, ['reg-cmd'])).map((c) => c.serial)).toEqual(['reg-cmd']);
    const [history] = await listRegistryCommands(db.pool, 'reg-cmd', 10);
    expect(history).toMatchObject({
      commandId: id,
      status: 'APPLIED',
      rttMs: 40,
      issuedBy: 'test',
      issuedAtUs,
    });
  });

  it('a REJECTED frequency is no longer desired; EXPIRED and TIMED_OUT settle pending commands', async () => {
    await applySensorStates(db.pool, [state('reg-rej')]);
    const t = nowUs();
    const freq = crypto.randomUUID();
    await recordCommands(
      db.pool,
      [
        {
          commandId: freq,
          serial: 'reg-rej',
          type: 'changesamplefrequency',
          sampleFrequencyHz: 5000,
          issuedBy: 't',
          issuedAtUs: t,
        },
      ],
      [{ serial: 'reg-rej', frequencyHz: 5000 }],
    );
    await applyCommandAcks(db.pool, [
      { commandId: freq, status: 'REJECTED', reason: 'out of range', timeUs: t + 1000 },
    ]);
    expect((await getRegistrySensor(db.pool, 'reg-rej'))?.desiredFrequencyHz).toBeNull();

    const exp = crypto.randomUUID();
    const old = crypto.randomUUID();
    await recordCommands(
      db.pool,
      [
        {
          commandId: exp,
          serial: 'reg-rej',
          type: 'awake',
          issuedBy: 't',
          issuedAtUs: t,
          expiresAtUs: t + 1000,
        },
        {
          commandId: old,
          serial: 'reg-rej',
          type: 'sleep',
          issuedBy: 't',
          issuedAtUs: t - 120_000_000,
          expiresAtUs: t - 90_000_000,
        },
      ],
      [],
    );
    expect(await markCommandsExpired(db.pool, [exp], 'expired in queue')).toEqual([
      { commandId: exp, serial: 'reg-rej', type: 'awake' },
    ]);
    expect(await markCommandsExpired(db.pool, [exp], 'again')).toEqual([]);
    const timedOut = await markCommandsTimedOut(db.pool, 60_000);
    expect(timedOut).toEqual([{ commandId: old, type: 'sleep' }]);
    const rows = await listRegistryCommands(db.pool, 'reg-rej', 10);
    expect(Object.fromEntries(rows.map((r) => [r.commandId, r.status]))).toEqual({
      [freq]: 'REJECTED',
      [exp]: 'EXPIRED',
      [old]: 'TIMED_OUT',
    });
    // a late ack still tells the truth
    await applyCommandAcks(db.pool, [{ commandId: old, status: 'APPLIED', reason: '', timeUs: t }]);
    expect(
      (await listRegistryCommands(db.pool, 'reg-rej', 10)).find((r) => r.commandId === old)?.status,
    ).toBe('APPLIED');
  });

  it('lists sensors by kind, selector (kind matches the column), effective state, online and serials', async () => {
    await applySensorStates(db.pool, [
      state('flt-a', { kind: 'environment', labels: { site: 'south' } }),
      state('flt-b', { kind: 'vibration', labels: { site: 'south' }, state: 'ASLEEP' }),
      state('flt-c', { kind: 'vibration', labels: { site: 'west' } }),
    ]);
    const serials = ['flt-a', 'flt-b', 'flt-c'];
    const names = (rows: Array<{ serial: string }>) => rows.map((r) => r.serial);
    expect(names(await listRegistrySensors(db.pool, { serials }))).toEqual(serials);
    expect(names(await listRegistrySensors(db.pool, { serials, kind: 'vibration' }))).toEqual([
      'flt-b',
      'flt-c',
    ]);
    expect(
      names(await listRegistrySensors(db.pool, { serials, selector: { kind: 'vibration', site: 'south' } })),
    ).toEqual(['flt-b']);
    expect(names(await listRegistrySensors(db.pool, { serials, state: 'ASLEEP' }))).toEqual(['flt-b']);
    expect(names(await listRegistrySensors(db.pool, { serials, online: true, limit: 2 }))).toEqual([
      'flt-a',
      'flt-b',
    ]);
    expect(await getRegistrySensor(db.pool, 'flt-none')).toBeUndefined();
  });

  it('last_seen_at is the receive time of any message, whatever the sensor clock says', async () => {
    // a sensor whose clock is ten minutes behind is not silent
    await applySensorStates(db.pool, [state('reg-clock', { timeUs: nowUs() - 600_000_000 })]);
    const row = await getRegistrySensor(db.pool, 'reg-clock');
    expect(Math.abs((row?.lastSeenAtUs ?? 0) - nowUs())).toBeLessThan(5_000_000);
    // an older (stale) state changes nothing it reports but still counts as seen
    await db.pool.query(
      "UPDATE sensors SET last_seen_at = now() - interval '20 seconds' WHERE serial = 'reg-clock'",
    );
    await applySensorStates(db.pool, [
      state('reg-clock', { timeUs: nowUs() - 900_000_000, state: 'ASLEEP', reason: 'CHANGE' }),
    ]);
    const after = await getRegistrySensor(db.pool, 'reg-clock');
    expect(after?.reportedState).toBe('AWAKE');
    expect(Math.abs((after?.lastSeenAtUs ?? 0) - nowUs())).toBeLessThan(5_000_000);
  });

  it('logs, data and acks keep a sensor online; data brings a silent one back AWAKE, logs only online', async () => {
    await applySensorStates(db.pool, [state('reg-logger'), state('reg-streamer')]);
    await db.pool.query(
      "UPDATE sensors SET last_seen_at = now() - interval '60 seconds' WHERE serial IN ('reg-logger', 'reg-streamer')",
    );
    expect(await markSilentSensorsOffline(db.pool, 30_000)).toEqual(
      expect.arrayContaining(['reg-logger', 'reg-streamer']),
    );
    const t = nowUs();
    const back = await recordSensorTraffic(db.pool, [
      { serial: 'reg-logger', seenAtUs: t },
      { serial: 'reg-streamer', seenAtUs: t - 1000, dataAtUs: t - 1000 },
      { serial: 'reg-streamer', seenAtUs: t, dataAtUs: t, samplesPerSecond: 250 },
      { serial: 'reg-nobody-at-all', seenAtUs: t },
    ]);
    expect(back).toEqual(['reg-logger', 'reg-streamer']);
    const logger = await getRegistrySensor(db.pool, 'reg-logger');
    expect(logger).toMatchObject({ online: true, reportedState: null, lastSeenAtUs: t, lastDataAtUs: null });
    const streamer = await getRegistrySensor(db.pool, 'reg-streamer');
    expect(streamer).toMatchObject({
      online: true,
      reportedState: 'AWAKE',
      lastSeenAtUs: t,
      lastDataAtUs: t,
      measuredSamplesPerSecond: 250,
    });
    // nothing moves backwards, and an online sensor keeps its reported state
    await applySensorStates(db.pool, [state('reg-logger', { state: 'ASLEEP', reason: 'CHANGE' })]);
    expect(await recordSensorTraffic(db.pool, [{ serial: 'reg-logger', seenAtUs: t - 10_000_000 }])).toEqual(
      [],
    );
    expect(await getRegistrySensor(db.pool, 'reg-logger')).toMatchObject({ reportedState: 'ASLEEP' });
    expect((await getRegistrySensor(db.pool, 'reg-logger'))?.lastSeenAtUs).toBeGreaterThanOrEqual(t);
  });

  it('an APPLIED ack reports the resulting state and frequency, unless a newer state says otherwise', async () => {
    await applySensorStates(db.pool, [
      state('reg-acked', { sampleFrequencyHz: 10, timeUs: nowUs() - 1_000_000 }),
    ]);
    const issuedAtUs = nowUs() - 500_000;
    const cmd = (type: 'changesamplefrequency' | 'sleep', hz?: number) => ({
      commandId: crypto.randomUUID(),
      serial: 'reg-acked',
      type,
      ...(hz === undefined ? {} : { sampleFrequencyHz: hz }),
      issuedBy: 'test',
      issuedAtUs,
      expiresAtUs: issuedAtUs + 60_000_000,
    });
    const change = cmd('changesamplefrequency', 50);
    await recordCommands(db.pool, [change], [{ serial: 'reg-acked', frequencyHz: 50 }]);
    await applyCommandAcks(db.pool, [
      {
        commandId: change.commandId,
        status: 'APPLIED',
        reason: '',
        timeUs: issuedAtUs + 20_000,
        state: 'AWAKE',
        sampleFrequencyHz: 50,
      },
    ]);
    expect(await getRegistrySensor(db.pool, 'reg-acked')).toMatchObject({
      reportedFrequencyHz: 50,
      desiredFrequencyHz: 50,
    });
    // applied, reported as desired: nothing to reconcile (the duplicate command of issue 12)
    expect(await findReconcileCandidates(db.pool, ['reg-acked'])).toEqual([]);

    // a state newer than an ack wins over it
    const sleep = cmd('sleep');
    await recordCommands(db.pool, [sleep], [{ serial: 'reg-acked', state: 'ASLEEP' }]);
    await applySensorStates(db.pool, [state('reg-acked', { sampleFrequencyHz: 50, reason: 'HEARTBEAT' })]);
    await applyCommandAcks(db.pool, [
      {
        commandId: sleep.commandId,
        status: 'APPLIED',
        reason: '',
        timeUs: issuedAtUs + 30_000,
        state: 'ASLEEP',
      },
    ]);
    expect((await getRegistrySensor(db.pool, 'reg-acked'))?.reportedState).toBe('AWAKE');
  });
});
