import type { Alarm } from '@sensor-streaming/protocol';

/** A delivery that retrying cannot fix (HTTP 400, a redirect, a rejected recipient): failed at once. */
export class PermanentDeliveryError extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

export type NotificationEvent = 'alarm.raised' | 'alarm.cleared' | 'alarm.unshelved';

/** The JSON body a webhook receives (and what an e-mail says). */
export interface AlarmNotification {
  event: NotificationEvent;
  /** The transition id: the same notification delivered twice carries the same id. */
  id: number;
  alarm: Alarm & { time: string };
  source: 'sensor-streaming/alarm-service';
}

/** Sends one notification on one channel; throws to retry, PermanentDeliveryError to give up. */
export type NotificationSender = (n: AlarmNotification) => Promise<void>;
