import type { Queryable } from '../pool.js';

// Alarm-system performance figures after EEMUA 191 / ISA-18.2, over stored
// transitions (alarms) and episodes (alarm_episodes).

export interface AlarmStats {
  fromUs: number;
  toUs: number;
  /** RAISED transitions in the period. */
  raised: number;
  /** Average RAISED per 10 minutes (EEMUA 191: ~1 is manageable, > 2 is over-demanding). */
  averagePer10Min: number;
  /** The busiest 10-minute interval (EEMUA 191 flood: more than 10 in 10 minutes). */
  peakPer10Min: number;
  /** Share of the 10-minute intervals in flood (> 10 alarms), in percent. */
  floodPercent: number;
  /** Open episodes now (standing alarms), and those open for more than 24 h (stale). */
  standing: number;
  stale: number;
  /** Alarms (sensor + rule + channel) raised 3 or more times within one minute (ISA-18.2 TR3: chattering). */
  chattering: Array<{ serial: string; rule: string; channel: string; raisesInAMinute: number }>;
  /** The 10 alarms raised most often, with their share of all raises (percent). */
  topBadActors: Array<{ serial: string; rule: string; channel: string; raised: number; percent: number }>;
  /** Shelved now / sensors in maintenance now. */
  shelved: number;
  inMaintenance: number;
}

const ts = (n: number): string => `(timestamptz 'epoch' + $${n}::bigint * interval '1 microsecond')`;

export async function alarmStats(db: Queryable, fromUs: number, toUs: number): Promise<AlarmStats> {
  const params = [fromUs, toUs];
  const [totals, chatter, top, standing] = await Promise.all([
    db.query<{ raised: string; peak: string | null; flood: string }>(
      `WITH r AS (
         SELECT time FROM alarms WHERE transition = 'RAISED' AND time >= ${ts(1)} AND time < ${ts(2)}
       ), b AS (
         SELECT floor(extract(epoch FROM time) / 600) AS bucket, count(*) AS n FROM r GROUP BY 1
       )
       SELECT (SELECT count(*) FROM r) AS raised, (SELECT max(n) FROM b) AS peak,
              (SELECT count(*) FROM b WHERE n > 10) AS flood`,
      params,
    ),
    db.query<{ serial: string; rule: string; channel: string; n: string }>(
      `WITH r AS (
         SELECT sensor_id, rule, channel, time FROM alarms
         WHERE transition = 'RAISED' AND time >= ${ts(1)} AND time < ${ts(2)}
       ), w AS (
         SELECT r1.sensor_id, r1.rule, r1.channel,
                (SELECT count(*) FROM r r2 WHERE r2.sensor_id = r1.sensor_id AND r2.rule = r1.rule
                   AND r2.channel = r1.channel AND r2.time >= r1.time
                   AND r2.time < r1.time + interval '1 minute') AS n
         FROM r r1
       )
       SELECT s.serial, w.rule, w.channel, max(w.n) AS n FROM w JOIN sensors s ON s.id = w.sensor_id
       GROUP BY s.serial, w.rule, w.channel HAVING max(w.n) >= 3 ORDER BY max(w.n) DESC, s.serial LIMIT 100`,
      params,
    ),
    db.query<{ serial: string; rule: string; channel: string; n: string }>(
      `SELECT s.serial, a.rule, a.channel, count(*) AS n
       FROM alarms a JOIN sensors s ON s.id = a.sensor_id
       WHERE a.transition = 'RAISED' AND a.time >= ${ts(1)} AND a.time < ${ts(2)}
       GROUP BY s.serial, a.rule, a.channel ORDER BY count(*) DESC, s.serial, a.rule LIMIT 10`,
      params,
    ),
    db.query<{ standing: string; stale: string; shelved: string; maint: string }>(
      `SELECT (SELECT count(*) FROM alarm_episodes WHERE cleared_at IS NULL) AS standing,
              (SELECT count(*) FROM alarm_episodes WHERE cleared_at IS NULL
                 AND raised_at < now() - interval '24 hours') AS stale,
              (SELECT count(*) FROM alarm_shelves WHERE ended_at IS NULL AND expires_at > now()) AS shelved,
              (SELECT count(DISTINCT sensor_id) FROM sensor_maintenance
                 WHERE ended_at IS NULL AND ends_at > now()) AS maint`,
    ),
  ]);
  const raised = Number(totals.rows[0]?.raised ?? 0);
  const intervals = Math.max(1, Math.ceil((toUs - fromUs) / 600e6));
  const st = standing.rows[0];
  return {
    fromUs,
    toUs,
    raised,
    averagePer10Min: raised / intervals,
    peakPer10Min: Number(totals.rows[0]?.peak ?? 0),
    floodPercent: (100 * Number(totals.rows[0]?.flood ?? 0)) / intervals,
    standing: Number(st?.standing ?? 0),
    stale: Number(st?.stale ?? 0),
    chattering: chatter.rows.map((r) => ({
      serial: r.serial,
      rule: r.rule,
      channel: r.channel,
      raisesInAMinute: Number(r.n),
    })),
    topBadActors: top.rows.map((r) => ({
      serial: r.serial,
      rule: r.rule,
      channel: r.channel,
      raised: Number(r.n),
      percent: raised === 0 ? 0 : (100 * Number(r.n)) / raised,
    })),
    shelved: Number(st?.shelved ?? 0),
    inMaintenance: Number(st?.maint ?? 0),
  };
}
