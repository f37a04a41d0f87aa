import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { hostname } from 'node:os';
import tls from 'node:tls';
import { PermanentDeliveryError } from './retry-queue.js';

export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

export interface SmtpOptions {
  /** smtp://[user:pass@]host[:port] (default port 25, STARTTLS when offered) or smtps://...(default 465). */
  url: string;
  timeoutMs?: number;
  /** Extra TLS options (tests: a self-signed CA). */
  tls?: tls.ConnectionOptions;
}

/** Reads SMTP replies (multi-line `250-...` until `250 ...`) from a socket. */
class ReplyReader {
  private buf = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  private error: Error | undefined;

  constructor(private socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  attach(socket: net.Socket | tls.TLSSocket): void {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let i = this.buf.indexOf('\n');
      while (i >= 0) {
        this.lines.push(this.buf.slice(0, i).replace(/\r$/, ''));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf('\n');
      }
      this.wake();
    });
    const fail = (err: Error) => {
      this.error ??= err;
      this.wake();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('SMTP connection closed')));
  }

  detach(): void {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async reply(): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    for (;;) {
      while (this.lines.length === 0) {
        if (this.error) throw this.error;
        await new Promise<void>((r) => {
          this.waiter = r;
        });
      }
      const line = this.lines.shift() as string;
      lines.push(line.slice(4));
      if (line.length < 4 || line[3] !== '-') {
        const code = Number(line.slice(0, 3));
        if (!Number.isInteger(code)) throw new Error(`SMTP: unexpected reply ${JSON.stringify(line)}`);
        return { code, lines };
      }
    }
  }
}

function connect(u: URL, opts: SmtpOptions): Promise<net.Socket | tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = u.protocol === 'smtps:';
    const port = Number(u.port || (secure ? 465 : 25));
    const host = u.hostname;
    const socket = secure
      ? tls.connect({ host, port, servername: host, ...opts.tls }, () => resolve(socket))
      : net.connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function dotStuff(text: string): string {
  return text
    .replace(/\r?\n/g, '\r\n')
    .split('\r\n')
    .map((l) => (l.startsWith('.') ? `.${l}` : l))
    .join('\r\n');
}

function encodeHeader(v: string): string {
  // RFC 2047 for anything beyond printable ASCII; header injection impossible either way
  const clean = v.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean).toString('base64')}?=`;
}

/**
 * Sends one plain-text mail: EHLO, STARTTLS when the server offers it (smtp://),
 * AUTH PLAIN when the URL has credentials, MAIL/RCPT/DATA, QUIT. A 5xx reply
 * is permanent (PermanentDeliveryError); 4xx and network errors are retryable.
 * Small on purpose: the alarm-service sends a few mails, through one relay.
 */
export async function sendMail(opts: SmtpOptions, msg: MailMessage): Promise<void> {
  const u = new URL(opts.url);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let socket = await connect(u, opts);
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`SMTP timed out after ${timeoutMs} ms`)));
  const reader = new ReplyReader(socket);
  const expect = async (codes: number[], what: string) => {
    const r = await reader.reply();
    if (!codes.includes(r.code)) {
      const text = `SMTP ${what}: ${r.code} ${r.lines.join(' ')}`;
      throw r.code >= 500 ? new PermanentDeliveryError(text) : new Error(text);
    }
    return r;
  };
  const send = async (line: string, codes: number[], what = line.split(' ')[0] ?? line) => {
    socket.write(`${line}\r\n`);
    return expect(codes, what);
  };
  try {
    await expect([220], 'greeting');
    const helo = `EHLO ${hostname() || 'localhost'}`;
    let ehlo = await send(helo, [250]);
    if (u.protocol === 'smtp:' && ehlo.lines.some((l) => /^STARTTLS\b/i.test(l))) {
      await send('STARTTLS', [220]);
      reader.detach();
      const plain = socket;
      socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: plain, servername: u.hostname, ...opts.tls }, () => resolve(s));
        s.once('error', reject);
      });
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`SMTP timed out after ${timeoutMs} ms`)));
      reader.attach(socket);
      ehlo = await send(helo, [250]);
    }
    if (u.username !== '') {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      const token = Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64');
      await send(`AUTH PLAIN ${token}`, [235], 'AUTH');
    }
    await send(`MAIL FROM:<${msg.from}>`, [250], 'MAIL FROM');
    for (const to of msg.to) await send(`RCPT TO:<${to}>`, [250, 251], 'RCPT TO');
    await send('DATA', [354]);
    const headers = [
      `From: <${msg.from}>`,
      `To: ${msg.to.map((t) => `<${t}>`).join(', ')}`,
      `Subject: ${encodeHeader(msg.subject)}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: <${randomUUID()}@${u.hostname}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
    ];
    socket.write(`${headers.join('\r\n')}\r\n\r\n${dotStuff(msg.text)}\r\n.\r\n`);
    await expect([250], 'message');
    await send('QUIT', [221]).catch(() => undefined);
  } finally {
    socket.destroy();
  }
}
