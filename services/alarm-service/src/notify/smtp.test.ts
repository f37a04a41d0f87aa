import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentDeliveryError } from './retry-queue.js';
import { sendMail } from './smtp.js';

interface Session {
  commands: string[];
  data: string;
}

/** A tiny scripted SMTP server on 127.0.0.1 (no TLS). */
function fakeSmtp(
  opts: { rejectRcpt?: boolean } = {},
): Promise<{ port: number; sessions: Session[]; close(): void }> {
  const sessions: Session[] = [];
  const server = net.createServer((sock) => {
    const s: Session = { commands: [], data: '' };
    sessions.push(s);
    let inData = false;
    let buf = '';
    sock.write('220 fake ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            sock.write('250 queued\r\n');
          } else s.data += `${line}\n`;
          continue;
        }
        s.commands.push(line);
        const verb = line.split(/[ :]/)[0]?.toUpperCase();
        if (verb === 'EHLO') sock.write('250-fake\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
        else if (verb === 'AUTH') sock.write('235 ok\r\n');
        else if (verb === 'RCPT' && opts.rejectRcpt) sock.write('550 no such user\r\n');
        else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go\r\n');
        } else if (verb === 'QUIT') {
          sock.end('221 bye\r\n');
        } else sock.write('250 ok\r\n');
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({ port, sessions, close: () => server.close() });
    });
  });
}

let closeServer: (() => void) | undefined;
afterEach(() => closeServer?.());

describe('sendMail', () => {
  it('authenticates, sends to every recipient and dot-stuffs the body', async () => {
    const srv = await fakeSmtp();
    closeServer = srv.close;
    await sendMail(
      { url: `smtp://bot:p%40ss@127.0.0.1:${srv.port}` },
      {
        from: 'alarms@example.com',
        to: ['a@example.com', 'b@example.com'],
        subject: 'Hot ✓',
        text: 'line 1\n.dot line',
      },
    );
    const s = srv.sessions[0];
    expect(s?.commands.slice(1)).toEqual([
      `AUTH PLAIN ${Buffer.from('\u0000bot\u0000p@ss').toString('base64')}`,
      'MAIL FROM:<alarms@example.com>',
      'RCPT TO:<a@example.com>',
      'RCPT TO:<b@example.com>',
      'DATA',
      'QUIT',
    ]);
    expect(s?.data).toContain(`Subject: =?UTF-8?B?${Buffer.from('Hot ✓').toString('base64')}?=`);
    expect(s?.data).toContain('\nline 1\n..dot line\n');
  });

  it('treats a 5xx reply as permanent', async () => {
    const srv = await fakeSmtp({ rejectRcpt: true });
    closeServer = srv.close;
    await expect(
      sendMail(
        { url: `smtp://127.0.0.1:${srv.port}` },
        { from: 'a@b.c', to: ['x@y.z'], subject: 's', text: 't' },
      ),
    ).rejects.toBeInstanceOf(PermanentDeliveryError);
  });

  it('fails (retryably) when nothing listens', async () => {
    const err = await sendMail(
      { url: 'smtp://127.0.0.1:1' },
      { from: 'a@b.c', to: ['x@y.z'], subject: 's', text: 't' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentDeliveryError);
  });
});
