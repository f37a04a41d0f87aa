import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SmtpConfig } from '../config.js';
import { createEmailSender, transportOptions } from './email.js';
import type { AlarmNotification } from './notification.js';

/** A plain SMTP server that never offers STARTTLS (as after a STARTTLS-stripping attack); records every line. */
async function plainSmtp(): Promise<{ server: Server; port: number; lines: string[] }> {
  const lines: string[] = [];
  const server = createServer((socket: Socket) => {
    let data = false;
    let buf = '';
    socket.write('220 mail.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i = buf.indexOf('\r\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        lines.push(line);
        if (data) {
          if (line === '.') {
            data = false;
            socket.write('250 queued\r\n');
          }
        } else if (/^EHLO/i.test(line)) socket.write('250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n');
        else if (/^STARTTLS/i.test(line)) socket.write('502 5.5.1 STARTTLS not available\r\n');
        else if (/^AUTH/i.test(line)) socket.write('235 ok\r\n');
        else if (/^DATA/i.test(line)) {
          data = true;
          socket.write('354 go\r\n');
        } else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
        i = buf.indexOf('\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, lines };
}

const notification: AlarmNotification = {
  event: 'alarm.raised',
  id: 7,
  alarm: {
    alarmId: '3f2b8c1e-7d4a-4e6b-9a1c-2b3c4d5e6f70',
    serial: 'sim-0-1',
    rule: 'hot',
    severity: 'MAJOR',
    transition: 'RAISED',
    value: 42,
    threshold: 30,
    windowNs: 60e9,
    timeUs: 1_700_000_000_000_000,
    channel: 'temperature',
    message: 'avg(temperature) over 1m = 42 (> 30)',
    time: '2023-11-14T22:13:20.000Z',
  },
  source: 'sensor-streaming/alarm-service',
};

const smtp = (port: number, requireTls: boolean): SmtpConfig => ({
  url: `smtp://bot:hunter2@127.0.0.1:${port}`,
  from: 'alarms@example.com',
  to: ['ops@example.com'],
  requireTls,
  timeoutMs: 5000,
});

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) s.close();
  servers = [];
});

describe('e-mail notifications (nodemailer)', () => {
  it('maps SMTP_URL: smtp:// requires STARTTLS, smtps:// is TLS from the start, credentials decoded', () => {
    expect(
      transportOptions({ ...smtp(2525, true), url: 'smtp://a%40b:p%2Fw@mail.example:2525' }),
    ).toMatchObject({
      host: 'mail.example',
      port: 2525,
      secure: false,
      requireTLS: true,
      auth: { user: 'a@b', pass: 'p/w' },
    });
    expect(transportOptions({ ...smtp(0, true), url: 'smtps://mail.example' })).toMatchObject({
      port: 465,
      secure: true,
      requireTLS: false,
    });
    expect(transportOptions({ ...smtp(0, true), url: 'smtp://mail.example' })).not.toHaveProperty('auth');
  });

  it('refuses to send (and never sends the password) when the server does not offer STARTTLS', async () => {
    const { server, port, lines } = await plainSmtp();
    servers.push(server);
    const send = createEmailSender(smtp(port, true));
    await expect(send(notification)).rejects.toThrow(/STARTTLS/i);
    send.close();
    expect(lines.some((l) => /^AUTH/i.test(l))).toBe(false);
    expect(lines.some((l) => /^MAIL FROM/i.test(l))).toBe(false);
  });

  it('with SMTP_REQUIRE_TLS=false it sends over the plain connection (an explicit choice)', async () => {
    const { server, port, lines } = await plainSmtp();
    servers.push(server);
    const send = createEmailSender(smtp(port, false));
    await send(notification);
    send.close();
    expect(lines.some((l) => /^AUTH/i.test(l))).toBe(true);
    expect(lines).toContain('Subject: [MAJOR] RAISED hot on sim-0-1');
  });
});
