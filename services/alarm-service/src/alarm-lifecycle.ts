import { randomUUID } from 'node:crypto';
import type { Bus } from '@sensor-streaming/bus';
import {
  type AlarmEpisode,
  type ClearedAlarm,
  clearAlarm,
  clearAlarms,
  type Pool,
  raiseAlarm,
  raiseAlarms,
  type SensorIdCache,
} from '@sensor-streaming/db';
import { type Alarm, alarmCodec, routingKeys } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import type { CommandIssuer } from './command-issuer.js';
import type { AlarmDecision } from './engine/rule-engine.js';
import type { AlarmMetrics } from './metrics.js';
import type { Notifier } from './notify/notifier.js';

export interface AlarmLifecycleDeps {
  pool: Pool;
  bus: Bus;
  sensorIds: SensorIdCache;
  notifier: Notifier;
  commands: CommandIssuer;
  metrics: AlarmMetrics;
  logger: Logger;
  /** True once the service is stopping: database retries give up so the batch is requeued. */
  stopping(): boolean;
}

const SEP = '\u0000';

function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Turns engine decisions into stored, published alarm transitions, in order.
 * RAISE inserts the episode with ON CONFLICT on the open-episode index: only
 * the caller that wins publishes, notifies and issues the rule's command, so a
 * second replica or a redelivered batch cannot raise the same episode twice.
 * CLEAR closes the open episode (if any) and publishes with the episode's id.
 * Database errors are retried with backoff (the consumer holds its batch
 * meanwhile, which is the backpressure we want); bad data is logged and skipped.
 */
export class AlarmLifecycle {
  private chain: Promise<void> = Promise.resolve();
  /** Open episodes this replica knows: key -> severity (for the active gauge). */
  private readonly open = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly deps: AlarmLifecycleDeps) {
    this.log = deps.logger.child({ module: 'lifecycle' });
  }

  seed(episodes: AlarmEpisode[]): void {
    this.open.clear();
    for (const e of episodes) this.open.set(key(e.serial, e.rule, e.channel), e.severity);
    this.updateGauge();
  }

  /**
   * Applies decisions after every earlier call has finished. They are split
   * into waves in which each alarm (sensor + rule + channel) appears at most
   * once, keeping each alarm's order; a wave costs one statement for its
   * raises and one for its clears. Publishes are issued right after each
   * statement and their confirms awaited together, so the call resolves once
   * everything is stored and confirmed.
   */
  apply(decisions: AlarmDecision[]): Promise<void> {
    if (decisions.length === 0) return this.chain;
    const run = this.chain.then(async () => {
      const waves: AlarmDecision[][] = [];
      const seen = new Map<string, number>();
      for (const d of decisions) {
        const k = key(d.serial, d.ruleId, d.channel);
        const n = seen.get(k) ?? 0;
        seen.set(k, n + 1);
        let wave = waves[n];
        if (wave === undefined) {
          wave = [];
          waves[n] = wave;
        }
        wave.push(d);
      }
      const confirms: Array<Promise<void>> = [];
      for (const wave of waves) await this.applyWave(wave, confirms);
      await Promise.all(confirms);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyWave(wave: AlarmDecision[], confirms: Array<Promise<void>>): Promise<void> {
    const { pool, sensorIds } = this.deps;
    let raises = wave.filter((d) => d.kind === 'RAISE').map((d) => ({ d, alarmId: randomUUID() }));
    let clears = wave.filter((d) => d.kind === 'CLEAR');
    for (let attempt = 1; ; attempt++) {
      try {
        const ids = await sensorIds.resolve(wave.map((d) => d.serial));
        const id = (serial: string) => ids.get(serial) as number;
        if (raises.length > 0) {
          const won = await raiseAlarms(
            pool,
            raises.map(({ d, alarmId }) => ({
              alarmId,
              sensorId: id(d.serial),
              rule: d.ruleId,
              channel: d.channel,
              severity: d.severity,
              value: d.value,
              threshold: d.threshold,
              windowNs: d.windowNs,
              timeUs: d.timeUs,
              message: d.message,
            })),
          );
          for (const { d, alarmId } of raises) {
            if (won.has(alarmId)) this.raised(d, alarmId, confirms);
            else
              this.log.debug({ serial: d.serial, rule: d.ruleId, channel: d.channel }, 'alarm already open');
          }
          raises = [];
        }
        if (clears.length > 0) {
          const result = await clearAlarms(
            pool,
            clears.map((d) => ({
              sensorId: id(d.serial),
              rule: d.ruleId,
              channel: d.channel,
              value: d.value,
              threshold: d.threshold,
              timeUs: d.timeUs,
              message: d.message,
            })),
          );
          for (const [i, d] of clears.entries()) this.cleared(d, result[i], confirms);
          clears = [];
        }
        return;
      } catch (err) {
        if (isDataError(err)) {
          // One bad row fails the whole statement: store the others one by one.
          for (const { d } of raises) await this.applyOne(d, confirms);
          for (const d of clears) await this.applyOne(d, confirms);
          return;
        }
        if (this.deps.stopping()) throw err;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt - 1, 6));
        this.log.warn(
          { err, attempt, decisions: wave.length },
          `storing alarms failed; retrying in ${delay} ms`,
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async applyOne(d: AlarmDecision, confirms: Array<Promise<void>>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (d.kind === 'RAISE') await this.raise(d, confirms);
        else await this.clear(d, confirms);
        return;
      } catch (err) {
        if (isDataError(err)) {
          this.log.error({ err, decision: d }, 'alarm transition rejected by the database; skipped');
          return;
        }
        if (this.deps.stopping()) throw err;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt - 1, 6));
        this.log.warn(
          { err, attempt, serial: d.serial, rule: d.ruleId },
          `storing alarm failed; retrying in ${delay} ms`,
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async raise(d: AlarmDecision, confirms: Array<Promise<void>>): Promise<void> {
    const { pool, sensorIds } = this.deps;
    const sensorId = (await sensorIds.resolve([d.serial])).get(d.serial) as number;
    const alarmId = randomUUID();
    const won = await raiseAlarm(pool, {
      alarmId,
      sensorId,
      rule: d.ruleId,
      channel: d.channel,
      severity: d.severity,
      value: d.value,
      threshold: d.threshold,
      windowNs: d.windowNs,
      timeUs: d.timeUs,
      message: d.message,
    });
    if (!won) {
      this.log.debug(
        { serial: d.serial, rule: d.ruleId, channel: d.channel },
        'alarm already open; not raised again',
      );
      return;
    }
    this.raised(d, alarmId, confirms);
  }

  /** After the episode was opened by this call: gauge, publish, notify, command. */
  private raised(d: AlarmDecision, alarmId: string, confirms: Array<Promise<void>>): void {
    this.open.set(key(d.serial, d.ruleId, d.channel), d.severity);
    this.updateGauge();
    const alarm: Alarm = {
      alarmId,
      serial: d.serial,
      rule: d.ruleId,
      severity: d.severity,
      transition: 'RAISED',
      value: d.value,
      threshold: d.threshold,
      windowNs: d.windowNs,
      timeUs: d.timeUs,
      channel: d.channel,
      message: d.message,
    };
    confirms.push(this.publish(alarm, d));
    if (d.actions.command) this.deps.commands.issue(d);
  }

  private async clear(d: AlarmDecision, confirms: Array<Promise<void>>): Promise<void> {
    const { pool, sensorIds } = this.deps;
    const sensorId = (await sensorIds.resolve([d.serial])).get(d.serial) as number;
    const cleared = await clearAlarm(pool, {
      sensorId,
      rule: d.ruleId,
      channel: d.channel,
      value: d.value,
      threshold: d.threshold,
      timeUs: d.timeUs,
      message: d.message,
    });
    this.cleared(d, cleared, confirms);
  }

  /** After the clear statement: gauge, and publish + notify when this call closed the episode. */
  private cleared(d: AlarmDecision, cleared: ClearedAlarm | undefined, confirms: Array<Promise<void>>): void {
    this.open.delete(key(d.serial, d.ruleId, d.channel));
    this.updateGauge();
    if (cleared === undefined) return;
    confirms.push(
      this.publish(
        {
          alarmId: cleared.alarmId,
          serial: d.serial,
          rule: d.ruleId,
          severity: cleared.severity,
          transition: 'CLEARED',
          value: d.value,
          threshold: d.threshold,
          windowNs: cleared.windowNs,
          timeUs: cleared.timeUs,
          channel: d.channel,
          message: d.message,
        },
        d,
      ),
    );
  }

  /** Issues the publish now (keeping per-alarm order on the channel); the promise settles on the confirm. */
  private publish(alarm: Alarm, d: AlarmDecision): Promise<void> {
    const { bus, metrics, notifier } = this.deps;
    const t = alarm.transition === 'RAISED' ? 'raised' : 'cleared';
    metrics.alarms.inc({ transition: alarm.transition, severity: alarm.severity, rule_type: d.ruleType });
    const ctx = { alarmId: alarm.alarmId, serial: alarm.serial, rule: alarm.rule, channel: alarm.channel };
    if (d.actions.notify) notifier.notify(alarm);
    return bus
      .publish(routingKeys.alarm(alarm.serial, t), alarmCodec.encode(alarm), { messageId: alarm.alarmId })
      .then(
        () => {
          metrics.lag.observe({ kind: 'alarm' }, Math.max(0, Date.now() * 1000 - alarm.timeUs) / 1e6);
          this.log.info(
            { ...ctx, severity: alarm.severity, value: alarm.value, threshold: alarm.threshold },
            `alarm ${t}: ${alarm.message}`,
          );
        },
        (err: unknown) => {
          // Stored but not published (broker gone for longer than the publish timeout): the
          // alarms table is the record; consumers of the alarm stream miss this transition.
          this.log.error({ ...ctx, err }, `alarm ${t} stored but its publish failed`);
        },
      );
  }

  private updateGauge(): void {
    const counts: Record<string, number> = { INFO: 0, WARNING: 0, MAJOR: 0, CRITICAL: 0 };
    for (const s of this.open.values()) counts[s] = (counts[s] ?? 0) + 1;
    for (const [severity, n] of Object.entries(counts)) this.deps.metrics.active.set({ severity }, n);
  }
}

function key(serial: string, rule: string, channel: string): string {
  return `${serial}${SEP}${rule}${SEP}${channel}`;
}
