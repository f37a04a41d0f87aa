import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type RabbitDefinitions, rabbitPasswordMatches } from '../rabbitmq-definitions.js';
import { repoRoot } from '../repo-root.js';
import { bindMounts, type ComposeFile } from './compose-file.js';

export const MIN_BROKER_NOFILE = 65_536;
const CONF_TARGET = '/etc/rabbitmq/conf.d/20-sensor-streaming.conf';

/** Container paths a service mounts (bind mounts and named volumes), longest first. */
function mountTargets(doc: ComposeFile, service: string): string[] {
  return (doc.services[service]?.volumes ?? [])
    .map((v) => (typeof v === 'string' ? v.split(':')[1] : (v as { target?: string }).target))
    .filter((t): t is string => typeof t === 'string')
    .sort((a, b) => b.length - a.length);
}

function nofileOf(ulimits: unknown): number | undefined {
  const n = (ulimits as { nofile?: number | { soft?: number } } | undefined)?.nofile;
  return typeof n === 'number' ? n : n?.soft;
}

/**
 * Identity and TLS in compose.yaml: the broker loads the definitions (so no guest), refuses anonymous MQTT,
 * serves AMQP and MQTT over TLS from mounted files and may open >= 65536 files; every service that talks to
 * it does so over TLS (amqps://, mqtts://) trusting a mounted CA, as its own user of the definitions (not
 * guest, not an administrator) with the password the definitions hash.
 */
export function composeBrokerSecurityProblems(doc: ComposeFile, root = repoRoot()): string[] {
  const problems: string[] = [];
  const rabbit = doc.services.rabbitmq;
  if (!rabbit) return ['no rabbitmq service'];
  const confSource = bindMounts(doc).find(
    (m) => m.service === 'rabbitmq' && m.target === CONF_TARGET,
  )?.source;
  const conf = confSource ? readFileSync(path.join(root, confSource), 'utf8') : '';
  const setting = (key: string) =>
    new RegExp(`^\\s*${key.replace(/\./g, '\\.')}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(conf)?.[1];
  if (setting('mqtt.allow_anonymous') !== 'false')
    problems.push('rabbitmq: anonymous MQTT is not refused (mqtt.allow_anonymous = false missing)');
  for (const k of ['listeners.ssl.default', 'mqtt.listeners.ssl.default'])
    if (setting(k) === undefined) problems.push(`rabbitmq: no ${k}: no TLS listener`);
  const brokerMounts = mountTargets(doc, 'rabbitmq');
  for (const k of ['ssl_options.cacertfile', 'ssl_options.certfile', 'ssl_options.keyfile']) {
    const file = setting(k);
    if (file === undefined) problems.push(`rabbitmq: ${k} is not set`);
    else if (!brokerMounts.some((t) => file.startsWith(`${t}/`)))
      problems.push(`rabbitmq: ${k} ${file} is not in a mounted volume`);
  }
  const nofile = nofileOf((rabbit as { ulimits?: unknown }).ulimits);
  if (nofile === undefined || nofile < MIN_BROKER_NOFILE)
    problems.push(`rabbitmq: ulimits.nofile ${nofile ?? 'not set'} is below ${MIN_BROKER_NOFILE}`);

  const defsTarget = setting('load_definitions');
  const defsSource = bindMounts(doc).find((m) => m.service === 'rabbitmq' && m.target === defsTarget)?.source;
  const definitions = defsSource
    ? (JSON.parse(readFileSync(path.join(root, defsSource), 'utf8')) as RabbitDefinitions)
    : undefined;
  if (!definitions) problems.push('rabbitmq: no load_definitions file mounted (RabbitMQ would create guest)');

  const users = new Map<string, string[]>();
  for (const [name, s] of Object.entries(doc.services)) {
    const env = s.environment ?? {};
    const amqp = env.AMQP_URL;
    if (amqp === undefined || name === 'rabbitmq') continue;
    const id = `service ${name}`;
    let url: URL;
    try {
      url = new URL(String(amqp));
    } catch {
      problems.push(`${id}: AMQP_URL is not a URL`);
      continue;
    }
    if (url.protocol !== 'amqps:') problems.push(`${id}: AMQP_URL is not amqps://`);
    if (env.MQTT_URL !== undefined && !/^(mqtts|wss):\/\//.test(String(env.MQTT_URL)))
      problems.push(`${id}: MQTT_URL is not mqtts://`);
    const ca = env.TLS_CA_FILE;
    if (ca === undefined) problems.push(`${id}: no CA: TLS_CA_FILE is not set`);
    else if (!mountTargets(doc, name).some((t) => String(ca).startsWith(`${t}/`)))
      problems.push(`${id}: no CA: TLS_CA_FILE ${String(ca)} is not in a mounted volume`);
    const user = decodeURIComponent(url.username);
    users.set(user, [...(users.get(user) ?? []), name]);
    if (user === 'guest' || user === '') {
      problems.push(`${id}: connects as ${user || 'nobody'} (each service has its own user)`);
      continue;
    }
    const def = definitions?.users?.find((u) => u.name === user);
    if (!def) {
      if (definitions) problems.push(`${id}: user ${user} is not in the broker definitions`);
      continue;
    }
    const tags = Array.isArray(def.tags) ? def.tags : String(def.tags ?? '').split(',');
    if (tags.includes('administrator'))
      problems.push(
        `${id}: connects as ${user}, an administrator (each service has its own least-privilege user)`,
      );
    if (!rabbitPasswordMatches(def.password_hash, decodeURIComponent(url.password)))
      problems.push(`${id}: AMQP_URL's password is not ${user}'s in the definitions`);
  }
  for (const [user, services] of users)
    if (services.length > 1) problems.push(`user ${user}: shared by ${services.join(', ')}`);
  return problems;
}
