import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlarmNotification } from './notification.js';
import { createWebhookSender, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './webhook.js';

const n = {
  event: 'alarm.cleared',
  id: 9,
  alarm: { alarmId: 'x' },
  source: 'sensor-streaming/alarm-service',
} as unknown as AlarmNotification;
let servers: Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

async function serve(handler: (req: IncomingMessage, body: string) => [number, Record<string, string>?]) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const [status, headers] = handler(req, body);
      res.writeHead(status, headers).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  const a = server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

describe('webhook notifications', () => {
  it('signs the raw body and the timestamp with HMAC-SHA256', async () => {
    const got: Array<{ sig: string; ts: string; body: string }> = [];
    const url = await serve((req, body) => {
      got.push({
        sig: String(req.headers[SIGNATURE_HEADER]),
        ts: String(req.headers[TIMESTAMP_HEADER]),
        body,
      });
      return [204];
    });
    await createWebhookSender({ url, timeoutMs: 5000, secret: 'k'.repeat(20), now: () => 1_700_000_000_123 })(
      n,
    );
    expect(got).toHaveLength(1);
    const g = got[0] as { sig: string; ts: string; body: string };
    expect(g.ts).toBe('1700000000');
    expect(g.sig).toBe(
      `sha256=${createHmac('sha256', 'k'.repeat(20)).update(`1700000000.${g.body}`).digest('hex')}`,
    );
    expect(JSON.parse(g.body)).toEqual(n);
  });

  it('does not follow a redirect (permanent failure), retries 5xx, gives up on 4xx', async () => {
    const hits: string[] = [];
    const target = await serve((req) => {
      hits.push(`target ${req.url}`);
      return [204];
    });
    const redirect = await serve(() => [307, { location: `${target}/elsewhere` }]);
    const send = (url: string) => createWebhookSender({ url, timeoutMs: 5000, secret: 'k'.repeat(20) })(n);
    await expect(send(redirect)).rejects.toMatchObject({
      permanent: true,
      message: expect.stringContaining('307'),
    });
    expect(hits).toEqual([]); // the signed alarm went nowhere else
    const busy = await serve(() => [503]);
    await expect(send(busy)).rejects.not.toHaveProperty('permanent');
    const bad = await serve(() => [400]);
    await expect(send(bad)).rejects.toMatchObject({ permanent: true });
  });
});
