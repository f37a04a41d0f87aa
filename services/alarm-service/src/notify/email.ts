import nodemailer from 'nodemailer';
import type { SmtpConfig } from '../config.js';
import { type AlarmNotification, type NotificationSender, PermanentDeliveryError } from './notification.js';

/** What nodemailer gets from SMTP_URL and SMTP_REQUIRE_TLS (exported for the config test). */
export function transportOptions(smtp: SmtpConfig) {
  const u = new URL(smtp.url);
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname,
    port: u.port === '' ? (secure ? 465 : 25) : Number(u.port),
    secure,
    // smtp://: STARTTLS is required (a server, or a man in the middle, that strips it gets no
    // message and no password) unless SMTP_REQUIRE_TLS=false says otherwise.
    requireTLS: !secure && smtp.requireTls,
    ...(u.username !== ''
      ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
      : {}),
    connectionTimeout: smtp.timeoutMs,
    greetingTimeout: smtp.timeoutMs,
    socketTimeout: smtp.timeoutMs,
    ...(smtp.tls ? { tls: smtp.tls } : {}),
  };
}

export function subjectOf(n: AlarmNotification): string {
  const what = n.event === 'alarm.unshelved' ? 'UNSHELVED' : n.alarm.transition;
  return `[${n.alarm.severity}] ${what} ${n.alarm.rule} on ${n.alarm.serial}`;
}

/**
 * E-mail through nodemailer (kept library: SMTP with STARTTLS, AUTH
 * mechanisms, pooling and timeouts are a protocol we should not maintain).
 * 5xx replies (e.g. recipient rejected) are permanent; the rest is retried.
 */
export function createEmailSender(smtp: SmtpConfig): NotificationSender & { close(): void } {
  const transport = nodemailer.createTransport(transportOptions(smtp));
  const send = async (n: AlarmNotification) => {
    try {
      await transport.sendMail({
        from: smtp.from,
        to: smtp.to,
        subject: subjectOf(n),
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
      });
    } catch (err) {
      const code = (err as { responseCode?: unknown }).responseCode;
      if (typeof code === 'number' && code >= 500 && code < 600)
        throw new PermanentDeliveryError(`SMTP ${code}: ${(err as Error).message}`);
      throw err;
    }
  };
  return Object.assign(send, { close: () => transport.close() });
}
