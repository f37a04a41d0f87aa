import { PermanentDeliveryError } from './retry-queue.js';

/**
 * POSTs one JSON document. 2xx is success; 408, 429 and 5xx (and network
 * errors, timeouts) are worth retrying; any other status is permanent.
 */
export async function postJson(url: string, body: unknown, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'sensor-streaming-alarm-service' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined); // drain so the connection can be reused
  if (res.ok) return;
  const msg = `webhook answered HTTP ${res.status}`;
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new Error(msg);
  throw new PermanentDeliveryError(msg);
}
