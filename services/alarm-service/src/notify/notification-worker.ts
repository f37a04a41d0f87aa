import { backoffDelay } from '@sensor-streaming/bus';
import {
  claimDueNotifications,
  type DueNotification,
  finishNotification,
  type NotificationChannel,
  type Pool,
  retryNotification,
} from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';
import type { Counter } from 'prom-client';
import type { AlarmNotification, NotificationEvent, NotificationSender } from './notification.js';

export interface NotificationWorkerOptions {
  pool: Pool;
  senders: Partial<Record<NotificationChannel, NotificationSender>>;
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };
  /** Poll interval when idle (kick() wakes it at once). */
  pollMs: number;
  logger: Logger;
  /** sensor_streaming_notifications_total{channel, status} */
  counter?: Counter<'channel' | 'status'>;
}

const EVENT: Record<string, NotificationEvent> = {
  RAISED: 'alarm.raised',
  CLEARED: 'alarm.cleared',
  UNSHELVED: 'alarm.unshelved',
};

export function toNotification(d: DueNotification): AlarmNotification {
  return {
    event: EVENT[d.transition] ?? 'alarm.raised',
    id: d.transitionId,
    alarm: {
      alarmId: d.alarmId,
      serial: d.serial,
      rule: d.rule,
      severity: d.severity,
      transition: d.transition === 'CLEARED' ? 'CLEARED' : 'RAISED',
      value: d.value,
      threshold: d.threshold,
      windowNs: d.windowNs,
      timeUs: d.timeUs,
      channel: d.alarmChannel,
      message: d.message,
      time: new Date(d.timeUs / 1000).toISOString(),
    },
    source: 'sensor-streaming/alarm-service',
  };
}

/**
 * Delivers the durable notification queue (alarm_notifications): claims due
 * rows with a lease, sends each on its channel, records DELIVERED / FAILED /
 * SUPPRESSED or the next attempt with backoff. Rows survive restarts and
 * failovers; a crash mid-delivery releases its claim when the lease ends
 * (a delivery may then repeat: receivers dedupe by `id`).
 */
export class NotificationWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly log: Logger;

  constructor(private readonly opts: NotificationWorkerOptions) {
    this.log = opts.logger.child({ module: 'notifications' });
  }

  get channels(): NotificationChannel[] {
    return (Object.keys(this.opts.senders) as NotificationChannel[]).filter((c) => this.opts.senders[c]);
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Something new was queued: deliver now rather than at the next poll. */
  kick(): void {
    if (this.stopped || this.channels.length === 0) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain()
      .catch((err: unknown) => this.log.error({ err }, 'notification delivery round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else {
          this.timer = setTimeout(() => this.kick(), this.opts.pollMs);
        }
      });
  }

  /** Stops polling and waits for the round in flight (its rows are recorded, or their lease lapses). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async drain(): Promise<void> {
    const { pool, retry, counter } = this.opts;
    for (;;) {
      const due = await claimDueNotifications(pool, 50, 60_000);
      if (due.length === 0) return;
      await Promise.all(
        due.map(async (d) => {
          const ctx = {
            channel: d.channel,
            alarmId: d.alarmId,
            serial: d.serial,
            transitionId: d.transitionId,
          };
          if (d.suppressedBy !== null) {
            await finishNotification(pool, d.id, 'SUPPRESSED', d.suppressedBy);
            counter?.inc({ channel: d.channel, status: 'suppressed' });
            this.log.info({ ...ctx, by: d.suppressedBy }, 'notification suppressed');
            return;
          }
          const send = this.opts.senders[d.channel];
          if (send === undefined) {
            await finishNotification(pool, d.id, 'FAILED', `channel ${d.channel} is not configured`);
            counter?.inc({ channel: d.channel, status: 'failed' });
            return;
          }
          try {
            await send(toNotification(d));
            await finishNotification(pool, d.id, 'DELIVERED');
            counter?.inc({ channel: d.channel, status: 'sent' });
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            const attempt = d.attempts + 1;
            if ((err as { permanent?: unknown }).permanent === true || attempt >= retry.maxAttempts) {
              await finishNotification(pool, d.id, 'FAILED', message);
              counter?.inc({ channel: d.channel, status: 'failed' });
              this.log.error({ ...ctx, err, attempt }, `${d.channel} notification failed`);
            } else {
              await retryNotification(pool, d.id, backoffDelay(attempt, retry), message);
              counter?.inc({ channel: d.channel, status: 'retried' });
              this.log.warn({ ...ctx, err, attempt }, `${d.channel} notification failed, will retry`);
            }
          }
        }),
      );
    }
  }
}
