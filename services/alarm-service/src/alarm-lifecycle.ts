import { randomUUID } from 'node:crypto';
import type { Bus } from '@sensor-streaming/bus';
import {
  type AlarmEpisode,
  clearAlarmsWithOutbox,
  markTransitionsPublished,
  type NotificationChannel,
  type OutboxTransition,
  type Pool,
  raiseAlarmsWithOutbox,
  type SensorIdCache,
  type StoredTransition,
} from '@sensor-streaming/db';
import { type Alarm, alarmCodec, routingKeys } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import type { CommandIssuer } from './command-issuer.js';
import type { AlarmDecision } from './engine/rule-engine.js';
import type { AlarmMetrics } from './metrics.js';

export interface AlarmLifecycleDeps {
  pool: Pool;
  bus: Bus;
  sensorIds: SensorIdCache;
  commands: CommandIssuer;
  metrics: AlarmMetrics;
  logger: Logger;
  /** Notification channels configured (a notifying transition queues one row per channel). */
  channels: readonly NotificationChannel[];
  /** Called after transitions were stored (wakes the notification worker). */
  onStored?: () => void;
  /** True once the service is stopping: database retries give up so the batch is requeued. */
  stopping(): boolean;
}

const SEP = '\u0000';

function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** The bus message id of a transition: the same transition published twice has the same id. */
export function transitionMessageId(transitionId: number): string {
  return `alarm-transition-${transitionId}`;
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
  /** Transitions whose publish is awaiting its confirm (the outbox relay leaves them alone). */
  readonly inFlight = new Set<number>();
  private marks: Promise<void> = Promise.resolve();

  /** Waits for everything applied so far, including the published marks (stand-down, stop). */
  async drain(): Promise<void> {
    await this.chain;
    await this.marks;
  }

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
      const confirms: Array<Promise<number | undefined>> = [];
      for (const wave of waves) await this.applyWave(wave, confirms);
      this.deps.onStored?.();
      const published = (await Promise.all(confirms)).filter((id): id is number => id !== undefined);
      // Marked in the background: the batch is acked without waiting for this write (a late mark only
      // means the relay may publish the transition again, with the same message id).
      this.marks = this.marks.then(() => this.markPublished(published));
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyWave(
    wave: AlarmDecision[],
    confirms: Array<Promise<number | undefined>>,
  ): Promise<void> {
    let raises = wave.filter((d) => d.kind === 'RAISE').map((d) => ({ d, alarmId: randomUUID() }));
    let clears = wave.filter((d) => d.kind === 'CLEAR');
    for (let attempt = 1; ; attempt++) {
      try {
        if (raises.length > 0) {
          await this.storeRaises(raises, confirms);
          raises = [];
        }
        if (clears.length > 0) {
          await this.storeClears(clears, confirms);
          clears = [];
        }
        return;
      } catch (err) {
        if (isDataError(err)) {
          // One bad row fails the whole statement: store the others one by one.
          for (const r of raises) await this.applyOne(() => this.storeRaises([r], confirms), r.d);
          for (const d of clears) await this.applyOne(() => this.storeClears([d], confirms), d);
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

  private async applyOne(store: () => Promise<void>, d: AlarmDecision): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await store();
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

  private async storeRaises(
    raises: Array<{ d: AlarmDecision; alarmId: string }>,
    confirms: Array<Promise<number | undefined>>,
  ): Promise<void> {
    const { pool, sensorIds, channels } = this.deps;
    const ids = await sensorIds.resolve(raises.map((r) => r.d.serial));
    const won = await raiseAlarmsWithOutbox(
      pool,
      raises.map(({ d, alarmId }) => ({
        alarmId,
        sensorId: ids.get(d.serial) as number,
        rule: d.ruleId,
        channel: d.channel,
        severity: d.severity,
        value: d.value,
        threshold: d.threshold,
        windowNs: d.windowNs,
        timeUs: d.timeUs,
        message: d.message,
        notify: d.actions.notify,
      })),
      channels,
    );
    for (const { d, alarmId } of raises) {
      const stored = won.get(alarmId);
      if (stored !== undefined) this.raised(d, stored, confirms);
      else this.log.debug({ serial: d.serial, rule: d.ruleId, channel: d.channel }, 'alarm already open');
    }
  }

  private async storeClears(
    clears: AlarmDecision[],
    confirms: Array<Promise<number | undefined>>,
  ): Promise<void> {
    const { pool, sensorIds, channels } = this.deps;
    const ids = await sensorIds.resolve(clears.map((d) => d.serial));
    const result = await clearAlarmsWithOutbox(
      pool,
      clears.map((d) => ({
        sensorId: ids.get(d.serial) as number,
        rule: d.ruleId,
        channel: d.channel,
        value: d.value,
        threshold: d.threshold,
        timeUs: d.timeUs,
        message: d.message,
        notify: d.actions.notify,
      })),
      channels,
    );
    for (const [i, d] of clears.entries()) this.cleared(d, result[i], confirms);
  }

  /** After the episode was opened by this call: gauge, publish, command (not in maintenance). */
  private raised(d: AlarmDecision, s: StoredTransition, confirms: Array<Promise<number | undefined>>): void {
    this.open.set(key(d.serial, d.ruleId, d.channel), d.severity);
    this.updateGauge();
    const alarm: Alarm = {
      alarmId: s.alarmId,
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
    this.deps.metrics.alarms.inc({ transition: 'RAISED', severity: alarm.severity, rule_type: d.ruleType });
    confirms.push(this.publish(alarm, s.transitionId));
    if (d.actions.command) {
      if (s.suppressedBy === 'maintenance')
        this.log.info({ serial: d.serial, rule: d.ruleId }, 'sensor in maintenance: rule command not sent');
      else this.deps.commands.issue(d);
    }
  }

  /** After the clear statement: gauge, and publish when this call closed the episode. */
  private cleared(
    d: AlarmDecision,
    s: StoredTransition | undefined,
    confirms: Array<Promise<number | undefined>>,
  ): void {
    this.open.delete(key(d.serial, d.ruleId, d.channel));
    this.updateGauge();
    if (s === undefined) return;
    this.deps.metrics.alarms.inc({ transition: 'CLEARED', severity: s.severity, rule_type: d.ruleType });
    confirms.push(
      this.publish(
        {
          alarmId: s.alarmId,
          serial: d.serial,
          rule: d.ruleId,
          severity: s.severity,
          transition: 'CLEARED',
          value: d.value,
          threshold: d.threshold,
          windowNs: s.windowNs,
          timeUs: s.timeUs,
          channel: d.channel,
          message: d.message,
        },
        s.transitionId,
      ),
    );
  }

  /**
   * Publishes a stored transition now (keeping per-alarm order on the
   * channel); resolves with its id once confirmed, undefined when the publish
   * failed: its outbox row stays pending and the relay publishes it later.
   */
  publish(alarm: Alarm, transitionId: number): Promise<number | undefined> {
    const { bus, metrics } = this.deps;
    const t = alarm.transition === 'RAISED' ? 'raised' : 'cleared';
    const ctx = { alarmId: alarm.alarmId, serial: alarm.serial, rule: alarm.rule, channel: alarm.channel };
    let body: Buffer;
    try {
      body = alarmCodec.encode(alarm);
    } catch (err) {
      // A bug (the engine made an alarm the protocol rejects): stored, never streamable; say so loudly.
      this.log.error({ ...ctx, transitionId, err }, `alarm ${t} stored but cannot be encoded for the bus`);
      return Promise.resolve(undefined);
    }
    this.inFlight.add(transitionId);
    return bus
      .publish(routingKeys.alarm(alarm.serial, t), body, {
        messageId: transitionMessageId(transitionId),
      })
      .then(
        () => {
          metrics.lag.observe({ kind: 'alarm' }, Math.max(0, Date.now() * 1000 - alarm.timeUs) / 1e6);
          this.log.info(
            { ...ctx, severity: alarm.severity, value: alarm.value, threshold: alarm.threshold },
            `alarm ${t}: ${alarm.message}`,
          );
          return transitionId;
        },
        (err: unknown) => {
          this.log.warn(
            { ...ctx, transitionId, err },
            `alarm ${t} stored but not published yet; the outbox will publish it`,
          );
          return undefined;
        },
      )
      .finally(() => this.inFlight.delete(transitionId));
  }

  /** Publishes outbox transitions (the relay): same message as the first attempt. */
  async republish(list: OutboxTransition[]): Promise<number> {
    const ids = await Promise.all(
      list
        .filter((o) => !this.inFlight.has(o.transitionId))
        .map((o) =>
          this.publish(
            {
              alarmId: o.alarmId,
              serial: o.serial,
              rule: o.rule,
              severity: o.severity,
              transition: o.transition,
              value: o.value,
              threshold: o.threshold,
              windowNs: o.windowNs,
              timeUs: o.timeUs,
              channel: o.channel,
              message: o.message,
            },
            o.transitionId,
          ),
        ),
    );
    const done = ids.filter((id): id is number => id !== undefined);
    await this.markPublished(done);
    return done.length;
  }

  private async markPublished(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await markTransitionsPublished(this.deps.pool, ids);
    } catch (err) {
      // Published but not marked: the relay publishes them once more (same message id).
      this.log.warn({ err, transitions: ids.length }, 'marking published transitions failed');
    }
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
