import { randomBytes } from 'node:crypto';

/*
 * Endpoints of the broker the integration tests and `pnpm test:security` use
 * (the machine's RabbitMQ: management 15672, AMQP 5672, MQTT 1884), overridable
 * by RABBITMQ_MANAGEMENT_URL, RABBITMQ_AMQP_URL, MQTT_URL.
 */
export const managementUrl = (): string =>
  process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
export const amqpBase = (): string => process.env.RABBITMQ_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const mqttUrl = (): string => process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884';

/** A random id for names that are global on the broker (users): tests never collide with each other or with people. */
export const runId = (): string => `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** An AMQP URL for `user`/`password` on `vhost` of the test broker. */
export function amqpUrlFor(user: string, password: string, vhost: string): string {
  const u = new URL(amqpBase());
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}
