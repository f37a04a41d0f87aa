import { createHmac } from 'node:crypto';
import { type AlarmNotification, type NotificationSender, PermanentDeliveryError } from './notification.js';

export const SIGNATURE_HEADER = 'x-sensor-streaming-signature';
export const TIMESTAMP_HEADER = 'x-sensor-streaming-timestamp';

export interface WebhookOptions {
  url: string;
  timeoutMs: number;
  /** HMAC-SHA256 key shared with the receiver. */
  secret: string;
  /** Tests: the clock. */
  now?: () => number;
}

/**
 * `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<body>`): the receiver
 * recomputes it over the raw body and the timestamp header, compares in
 * constant time and rejects stale timestamps (replays).
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POSTs notifications as signed JSON. Redirects are not followed (a 3xx is a
 * permanent failure: a signed alarm must not be forwarded somewhere else).
 * 2xx is success; 408, 429, 5xx, network errors and timeouts are retried; any
 * other status is permanent.
 */
export function createWebhookSender(opts: WebhookOptions): NotificationSender {
  const now = opts.now ?? Date.now;
  return async (n: AlarmNotification) => {
    const body = JSON.stringify(n);
    const timestamp = String(Math.floor(now() / 1000));
    const res = await fetch(opts.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'sensor-streaming-alarm-service',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signWebhook(opts.secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined); // drain so the connection can be reused
    if (res.ok) return;
    if (res.status >= 300 && res.status < 400)
      throw new PermanentDeliveryError(`webhook answered HTTP ${res.status} (redirects are not followed)`);
    const msg = `webhook answered HTTP ${res.status}`;
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw new Error(msg);
    throw new PermanentDeliveryError(msg);
  };
}
