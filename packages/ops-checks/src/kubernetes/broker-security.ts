import { type RabbitDefinitions, rabbitPasswordMatches } from '../rabbitmq-definitions.js';
import { secretValue } from './cross-references.js';
import type { K8sObject } from './render.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

const WORKLOADS = new Set(['Deployment', 'StatefulSet']);
const PLAIN_PORTS = [5672, 1883];
export const MIN_BROKER_NOFILE = 65_536;

/** `ulimit -n N` / `ulimit -Sn N` in a container command; undefined when there is none. */
export function nofileOf(command: unknown): number | undefined {
  const text = Array.isArray(command) ? command.join(' ') : String(command ?? '');
  const m = /ulimit\s+-(?:S|H)?n\s+(\d+|unlimited)/.exec(text);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** The users RabbitMQ loads at boot, from the Secret the RabbitmqCluster mounts. */
function definitionsOf(objects: K8sObject[], cluster: Any): RabbitDefinitions | undefined {
  const tpl = cluster?.spec?.override?.statefulSet?.spec?.template?.spec;
  for (const v of tpl?.volumes ?? []) {
    if (!v.secret) continue;
    const s = objects.find((o) => o.kind === 'Secret' && o.metadata.name === v.secret.secretName);
    const text = s ? secretValue(s, 'definitions.json') : undefined;
    if (text !== undefined) return JSON.parse(text) as RabbitDefinitions;
  }
  return undefined;
}

/**
 * The broker side of identity and TLS: the RabbitmqCluster serves TLS, refuses anonymous MQTT and gives the
 * broker enough file descriptors; in prod it has no plain listener and no NetworkPolicy admits a client to
 * a plain port.
 */
export function brokerServerProblems(objects: K8sObject[], opts: { prod: boolean }): string[] {
  const problems: string[] = [];
  const r: Any = objects.find((o) => o.kind === 'RabbitmqCluster');
  if (!r) return ['no RabbitmqCluster rendered'];
  const id = `RabbitmqCluster/${r.metadata.name}`;
  if (!r.spec?.tls?.secretName) problems.push(`${id}: no spec.tls.secretName: the broker serves no TLS`);
  const conf: string = r.spec?.rabbitmq?.additionalConfig ?? '';
  if (!/^\s*mqtt\.allow_anonymous\s*=\s*false\s*$/m.test(conf))
    problems.push(`${id}: anonymous MQTT is not refused (mqtt.allow_anonymous = false missing)`);
  const container = (r.spec?.override?.statefulSet?.spec?.template?.spec?.containers ?? []).find(
    (c: Any) => c.name === 'rabbitmq',
  );
  const nofile = nofileOf(container?.command);
  if (nofile === undefined || nofile < MIN_BROKER_NOFILE)
    problems.push(
      `${id}: open-files limit ${nofile ?? 'not raised'} is below ${MIN_BROKER_NOFILE} (one descriptor per connection)`,
    );
  if (opts.prod) {
    if (r.spec?.tls?.disableNonTLSListeners !== true)
      problems.push(
        `${id}: plain AMQP 5672 and MQTT 1883 are open (spec.tls.disableNonTLSListeners is not true)`,
      );
    for (const p of objects.filter((o) => o.kind === 'NetworkPolicy') as Any[]) {
      if (p.spec?.podSelector?.matchLabels?.['app.kubernetes.io/name'] !== 'rabbitmq') continue;
      for (const rule of p.spec?.ingress ?? []) {
        const fromBrokers = (rule.from ?? []).every(
          (f: Any) => f.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'rabbitmq',
        );
        if (fromBrokers && (rule.from ?? []).length > 0) continue;
        const ports: Any[] = rule.ports ?? [];
        const open =
          ports.length === 0 ? PLAIN_PORTS : ports.map((x) => x.port).filter((x) => PLAIN_PORTS.includes(x));
        for (const port of open)
          problems.push(`NetworkPolicy/${p.metadata.name}: admits clients to the plain port ${port}`);
      }
    }
  }
  return problems;
}

/**
 * Every workload that talks to the broker: over TLS (amqps://, mqtts://), trusting a mounted CA (and only
 * the CA: not the broker's key), as its own user from its own Secret; that user exists in the broker's
 * definitions with that password and is neither guest nor an administrator.
 */
export function brokerClientProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const cluster: Any = objects.find((o) => o.kind === 'RabbitmqCluster');
  const definitions = definitionsOf(objects, cluster);
  const secretOwners = new Map<string, string[]>();
  const secret = (name: string) => objects.find((o) => o.kind === 'Secret' && o.metadata.name === name);
  for (const w of objects.filter((o) => WORKLOADS.has(o.kind)) as Any[]) {
    const spec = w.spec.template.spec;
    for (const c of spec.containers ?? []) {
      const env = (n: string) => (c.env ?? []).find((e: Any) => e.name === n);
      const amqp = env('AMQP_URL');
      if (!amqp) continue;
      const id = `${w.kind}/${w.metadata.name} ${c.name}`;
      if (!String(amqp.value).startsWith('amqps://')) problems.push(`${id}: AMQP_URL is not amqps://`);
      const mqtt = env('MQTT_URL');
      if (mqtt && !/^(mqtts|wss):\/\//.test(String(mqtt.value)))
        problems.push(`${id}: MQTT_URL is not mqtts://`);

      // the CA, mounted
      const ca = env('TLS_CA_FILE')?.value as string | undefined;
      if (!ca) problems.push(`${id}: no CA: TLS_CA_FILE is not set`);
      else {
        const mount = (c.volumeMounts ?? []).find((m: Any) => ca.startsWith(`${m.mountPath}/`));
        const volume = mount && (spec.volumes ?? []).find((v: Any) => v.name === mount.name);
        const source = volume?.secret ?? volume?.configMap;
        const file = mount ? ca.slice(mount.mountPath.length + 1) : '';
        const projected = source?.items ? source.items.map((i: Any) => i.path) : undefined;
        if (!source || (projected && !projected.includes(file)))
          problems.push(`${id}: no CA: TLS_CA_FILE ${ca} is not a file of a mounted Secret or ConfigMap`);
        else if (!projected || source.items.some((i: Any) => /key/.test(i.key)))
          problems.push(
            `${id}: mounts all of ${volume.secret ? 'Secret' : 'ConfigMap'} ${source.secretName ?? source.name} (private key included): project ca.crt only`,
          );
      }

      // its own user
      const userRef = env('AMQP_USERNAME')?.valueFrom?.secretKeyRef;
      const passRef = env('AMQP_PASSWORD')?.valueFrom?.secretKeyRef;
      if (!userRef || !passRef) {
        problems.push(`${id}: broker credentials not from a Secret (AMQP_USERNAME, AMQP_PASSWORD)`);
        continue;
      }
      secretOwners.set(userRef.name, [
        ...(secretOwners.get(userRef.name) ?? []),
        `${w.kind}/${w.metadata.name}`,
      ]);
      const s = secret(userRef.name);
      const user = s ? secretValue(s, userRef.key) : undefined;
      const password =
        passRef.name && secret(passRef.name) ? secretValue(secret(passRef.name)!, passRef.key) : undefined;
      if (user === undefined) continue; // crossReferenceProblems reports the missing Secret or key
      if (user === 'guest') {
        problems.push(`${id}: connects as guest (development only; each service has its own user)`);
        continue;
      }
      const def = definitions?.users?.find((u) => u.name === user);
      if (!def) {
        problems.push(`${id}: user ${user} is not in the broker definitions`);
        continue;
      }
      const tags = Array.isArray(def.tags) ? def.tags : String(def.tags ?? '').split(',');
      if (tags.includes('administrator'))
        problems.push(
          `${id}: connects as ${user}, an administrator (each service has its own least-privilege user)`,
        );
      if (password !== undefined && !rabbitPasswordMatches(def.password_hash, password))
        problems.push(
          `${id}: the password in ${passRef.name} does not match ${user}'s hash in the definitions`,
        );
    }
  }
  for (const [name, owners] of secretOwners)
    if (owners.length > 1) problems.push(`Secret ${name}: broker credentials shared by ${owners.join(', ')}`);
  return problems;
}
