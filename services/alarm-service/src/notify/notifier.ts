import type { Alarm } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import type { Counter } from 'prom-client';
import { type DeliveryStatus, RetryQueue } from './retry-queue.js';
import { sendMail } from './smtp.js';
import { postJson } from './webhook.js';

export interface NotifierOptions {
  webhook?: { url: string; timeoutMs: number };
  smtp?: { url: string; from: string; to: string[] };
  retry: { maxAttempts: number; queueLimit: number; initialDelayMs: number; maxDelayMs: number };
  logger: Logger;
  /** sensor_streaming_notifications_total{channel, status} */
  counter?: Counter<'channel' | 'status'>;
}

/** The JSON body a webhook receives. */
export interface AlarmNotification {
  event: 'alarm.raised' | 'alarm.cleared';
  alarm: Alarm & { time: string };
  source: 'sensor-streaming/alarm-service';
}

export function toNotification(alarm: Alarm): AlarmNotification {
  return {
    event: alarm.transition === 'CLEARED' ? 'alarm.cleared' : 'alarm.raised',
    alarm: { ...alarm, time: new Date(alarm.timeUs / 1000).toISOString() },
    source: 'sensor-streaming/alarm-service',
  };
}

export interface Notifier {
  notify(alarm: Alarm): void;
  stop(deadlineMs?: number): Promise<void>;
  readonly pending: number;
}

/** Webhook and e-mail notifications, each on its own bounded retry queue (never blocking the caller). */
export function createNotifier(opts: NotifierOptions): Notifier {
  const log = opts.logger.child({ module: 'notifier' });
  const queues: Array<RetryQueue<AlarmNotification>> = [];
  const status = (channel: string) => (s: DeliveryStatus, n: AlarmNotification, err?: unknown) => {
    opts.counter?.inc({ channel, status: s });
    const ctx = { channel, alarmId: n.alarm.alarmId, event: n.event, serial: n.alarm.serial };
    if (s === 'failed' || s === 'dropped') log.error({ ...ctx, err }, `${channel} notification ${s}`);
    else if (s === 'retried') log.warn({ ...ctx, err }, `${channel} notification failed, will retry`);
    else log.debug(ctx, `${channel} notification sent`);
  };
  const { webhook, smtp } = opts;
  if (webhook) {
    queues.push(
      new RetryQueue({
        name: 'webhook',
        send: (n) => postJson(webhook.url, n, webhook.timeoutMs),
        limit: opts.retry.queueLimit,
        maxAttempts: opts.retry.maxAttempts,
        initialDelayMs: opts.retry.initialDelayMs,
        maxDelayMs: opts.retry.maxDelayMs,
        onStatus: status('webhook'),
      }),
    );
  }
  if (smtp) {
    queues.push(
      new RetryQueue({
        name: 'email',
        send: (n) =>
          sendMail(
            { url: smtp.url },
            {
              from: smtp.from,
              to: smtp.to,
              subject: `[${n.alarm.severity}] ${n.alarm.transition} ${n.alarm.rule} on ${n.alarm.serial}`,
              text: [
                n.alarm.message,
                '',
                `sensor:    ${n.alarm.serial}`,
                `rule:      ${n.alarm.rule}`,
                `channel:   ${n.alarm.channel || '-'}`,
                `value:     ${n.alarm.value}`,
                `threshold: ${n.alarm.threshold}`,
                `time:      ${n.alarm.time}`,
                `alarm id:  ${n.alarm.alarmId}`,
              ].join('\n'),
            },
          ),
        limit: opts.retry.queueLimit,
        maxAttempts: opts.retry.maxAttempts,
        initialDelayMs: opts.retry.initialDelayMs,
        maxDelayMs: opts.retry.maxDelayMs,
        onStatus: status('email'),
      }),
    );
  }
  return {
    notify(alarm) {
      if (queues.length === 0) return;
      const n = toNotification(alarm);
      for (const q of queues) q.enqueue(n);
    },
    async stop(deadlineMs) {
      await Promise.all(queues.map((q) => q.stop(deadlineMs)));
    },
    get pending() {
      return queues.reduce((s, q) => s + q.size, 0);
    },
  };
}
