import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBus } from '@sensor-streaming/bus';
import type { Pool } from '@sensor-streaming/db';
import { CONTENT_TYPE_PROTOBUF, measurementBatchCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { sleep, waitUntil } from './run-command.js';
import { ServiceProcess } from './service-process.js';

export interface AlarmFaultOptions {
  amqpUrl: string;
  databaseUrl: string;
  pool: Pool;
  logDir: string;
  /** High/low episodes to drive. */
  episodes: number;
  /** The leader is SIGKILLed in the middle of this episode's high phase. */
  failoverInEpisode: number;
  print(line: string): void;
}

export interface AlarmFaultResult {
  episodes: number;
  /** RAISED transitions stored for the suite's sensor and rule. */
  raised: number;
  cleared: number;
  recoveries: number;
  problems: string[];
}

const SERIAL = 'alarmfault-0';
const RULE = 'fault-suite-high';
const CHANNEL = 'alarmtest';
const RULES = `# written by the fault suite
version: 1
rules:
  - id: ${RULE}
    description: the fault suite's episodes (max above 100 raises, at most 50 clears)
    type: threshold
    channel: ${CHANNEL}
    aggregate: max
    window: 1s
    raise: "> 100"
    clear: "<= 50"
    severity: WARNING
    notify: false
`;

/**
 * Alarm-service failover: two replicas (one leader by advisory lock), a sensor driven through clear high and
 * low phases; the leader is SIGKILLed in the middle of an episode. Each episode must be raised once and
 * cleared once in the database, and a leader must be serving again.
 */
export async function runAlarmFaults(o: AlarmFaultOptions): Promise<AlarmFaultResult> {
  const rulesFile = join(o.logDir, 'fault-suite-rules.yaml');
  await writeFile(rulesFile, RULES);
  const replicas = [1, 2].map(
    (i) =>
      new ServiceProcess({
        name: `alarm-service-${i}`,
        entry: 'services/alarm-service/src/main.ts',
        env: {
          AMQP_URL: o.amqpUrl,
          DATABASE_URL: o.databaseUrl,
          SERVICE_NAME: `faults-alarm-${i}`,
          RULES_FILE: rulesFile,
          RULES_WATCH: 'false',
          LEADER_RETRY_MS: '300',
          TICK_INTERVAL_MS: '200',
        },
        logFile: join(o.logDir, `alarm-service-${i}.log`),
      }),
  );
  const result: AlarmFaultResult = {
    episodes: o.episodes,
    raised: 0,
    cleared: 0,
    recoveries: 0,
    problems: [],
  };
  const logger = createLogger({ service: 'fault-suite-alarms', level: 'silent' });
  const bus = createBus({ url: o.amqpUrl, connectionName: 'fault-suite-alarms', logger });
  const isLeader = async (s: ServiceProcess): Promise<boolean> =>
    s.running && (await s.metric('sensor_streaming_alarm_leader')) === 1;
  try {
    for (const r of replicas) await r.start();
    for (const r of replicas) await r.waitReady(120_000);
    await waitUntil(
      async () => (await Promise.all(replicas.map(isLeader))).some(Boolean),
      'an alarm leader',
      60_000,
      300,
    );
    await bus.start();
    const hz = 20;
    const perBatch = 5; // 250 ms per message
    let seq = 0;
    let nextUs = Date.now() * 1000;
    const send = async (value: number): Promise<void> => {
      // like a sensor: a batch goes out once its last sample has been taken
      const endUs = nextUs + (perBatch * 1e6) / hz;
      const wait = endUs / 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      await bus.publish(
        routingKeys.data(SERIAL),
        measurementBatchCodec.encode({
          serial: SERIAL,
          channel: CHANNEL,
          unit: 'u',
          sequence: ++seq,
          firstSampleTimeUs: nextUs,
          samplePeriodNs: 1e9 / hz,
          values: Array.from({ length: perBatch }, () => value),
        }),
        { contentType: CONTENT_TYPE_PROTOBUF },
      );
      nextUs = endUs;
    };
    const count = async (transition: string): Promise<number> => {
      const { rows } = await o.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM alarms a JOIN sensors s ON s.id = a.sensor_id
          WHERE s.serial = $1 AND a.rule = $2 AND a.transition = $3`,
        [SERIAL, RULE, transition],
      );
      return Number(rows[0]?.n ?? 0);
    };
    o.print(
      `faults: alarms: ${o.episodes} episodes on two alarm-service replicas; SIGKILL of the leader in episode ${o.failoverInEpisode}`,
    );
    for (let e = 0; e < o.episodes; e++) {
      for (let i = 0; i < 12; i++) {
        await send(200); // 3 s high
        if (e === o.failoverInEpisode && i === 6) {
          // the episode is open (raised and stored) before its leader dies
          await waitUntil(
            async () => (await count('RAISED')) === e + 1,
            `episode ${e} raised`,
            20_000,
            200,
          ).catch(() => result.problems.push(`episode ${e} was not raised before the failover`));
          const leader = (
            await Promise.all(replicas.map(async (r) => ((await isLeader(r)) ? r : undefined)))
          ).find(Boolean);
          if (!leader) result.problems.push('no alarm leader to fail over');
          else {
            o.print(`faults: alarms: SIGKILL ${leader.name} (the leader) mid-episode`);
            await leader.kill();
            await sleep(500);
            await leader.start();
          }
        }
      }
      for (let i = 0; i < 12; i++) await send(0); // 3 s low
    }
    // the last episode's clear, evaluated on event time, needs a little more data
    for (let i = 0; i < 8; i++) await send(0);
    await waitUntil(
      async () => (await count('CLEARED')) >= o.episodes,
      'every episode cleared',
      60_000,
      500,
    ).catch(() => undefined);
    result.raised = await count('RAISED');
    result.cleared = await count('CLEARED');
    await waitUntil(
      async () =>
        (await Promise.all(replicas.map((r) => r.isReady()))).every(Boolean) &&
        (await Promise.all(replicas.map(isLeader))).filter(Boolean).length === 1,
      'both alarm replicas ready with one leader',
      60_000,
      500,
    )
      .then(() => {
        result.recoveries++;
      })
      .catch((err: unknown) =>
        result.problems.push(`alarm service not recovered: ${(err as Error).message}`),
      );
  } finally {
    await bus.stop().catch(() => undefined);
    const unexpected = replicas.reduce((n, s) => n + s.unexpectedExits, 0);
    if (unexpected > 0) result.problems.push(`${unexpected} alarm-service processes exited by themselves`);
    await Promise.all(replicas.map((s) => s.close()));
  }
  if (result.raised !== o.episodes)
    result.problems.push(`${result.raised} alarms raised for ${o.episodes} episodes`);
  if (result.cleared !== o.episodes)
    result.problems.push(`${result.cleared} alarms cleared for ${o.episodes} episodes`);
  return result;
}
