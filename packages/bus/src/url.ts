import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The URL with its password replaced by `***`, for logs. Never throws. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/**
 * The broker user a connection to `url` authenticates as, the way amqplib reads it: the URL's user name,
 * `guest` when the URL carries no credentials at all; for `amqps://` with a client certificate and no user
 * (SASL EXTERNAL, see amqpSocketOptions), the certificate's CN, which the broker takes as the user
 * (`ssl_cert_login_from = common_name`). This is the `user_id` the broker accepts on its publishes
 * (RabbitMQ refuses any other with PRECONDITION_FAILED).
 */
export function urlUser(url: string, certFile?: string): string {
  const u = new URL(url);
  if (u.protocol === 'amqps:' && u.username === '' && certFile !== undefined) {
    const subject = new X509Certificate(readFileSync(certFile)).subject;
    const cn = /^CN=(.*)$/m.exec(subject)?.[1];
    if (cn === undefined || cn === '')
      throw new RangeError(`client certificate ${certFile} has no CN: ${subject}`);
    return cn;
  }
  if (u.username === '' && u.password === '') return 'guest';
  return decodeURIComponent(u.username);
}
