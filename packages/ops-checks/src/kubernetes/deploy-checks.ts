import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { shutdownDeadlineMs } from '../compose/compose-file.js';
import { repoRoot } from '../repo-root.js';
import { secretValue } from './cross-references.js';
import type { K8sObject } from './render.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON, checked field by field
type Any = any;

const find = (objects: K8sObject[], kind: string, name: string): Any =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const ofKind = (objects: K8sObject[], kind: string): Any[] => objects.filter((o) => o.kind === kind);
const envOf = (c: Any, name: string) => c?.env?.find((e: Any) => e.name === name);
const MIGRATE_COMMAND = ['node', 'packages/db/dist/bin/migrate.js'];

/** Annotation on the simulator StatefulSet: the number of simulated sensors the overlay wants. */
export const FLEET_ANNOTATION = 'sensor-streaming.io/fleet-sensors';

/**
 * Migrations run once per release and survive re-applies: no Job (its pod
 * template is immutable, so the next release's apply is rejected while it
 * exists); every Deployment that uses the database migrates in its first init
 * container (advisory lock), against the same DATABASE_URL as the service,
 * with the connect retry and the database placeholder-credential guard's
 * inputs (each service refuses a placeholder broker password in its own
 * AMQP_URL: see brokerClientProblems).
 */
export function migrationProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const job of ofKind(objects, 'Job')) {
    const runsMigrate = (job.spec?.template?.spec?.containers ?? []).some(
      (c: Any) => JSON.stringify(c.command) === JSON.stringify(MIGRATE_COMMAND),
    );
    if (runsMigrate)
      problems.push(
        `Job/${job.metadata.name}: migrations in a Job break the next release's apply (immutable)`,
      );
  }
  for (const d of ofKind(objects, 'Deployment')) {
    const spec = d.spec.template.spec;
    const main = spec.containers[0];
    if (!envOf(main, 'DATABASE_URL')) continue;
    const id = `Deployment/${d.metadata.name}`;
    const init = spec.initContainers?.[0];
    if (!init || JSON.stringify(init.command) !== JSON.stringify(MIGRATE_COMMAND)) {
      problems.push(`${id}: uses the database but its first init container does not run the migrations`);
      continue;
    }
    if (init.image !== main.image)
      problems.push(`${id}: migrates with ${init.image}, runs ${main.image} (one release, one image)`);
    if (envOf(init, 'DATABASE_URL')?.value !== envOf(main, 'DATABASE_URL')?.value)
      problems.push(`${id}: the migrate init container's DATABASE_URL differs from the service's`);
    const timeout = envOf(init, 'MIGRATE_CONNECT_TIMEOUT')?.value;
    if (!timeout) problems.push(`${id}: migrate init container without MIGRATE_CONNECT_TIMEOUT`);
  }
  return problems;
}

/**
 * Backups: the TimescaleDB Cluster archives WAL and base backups to object
 * storage with a retention policy and credentials from rendered Secrets; a
 * ScheduledBackup takes base backups of that cluster through the object store.
 */
export function backupProblems(objects: K8sObject[], cluster = 'timescaledb'): string[] {
  const problems: string[] = [];
  const c = find(objects, 'Cluster', cluster);
  const store = c?.spec?.backup?.barmanObjectStore;
  if (!store?.destinationPath) return [`Cluster/${cluster}: no backup.barmanObjectStore (WAL archiving)`];
  if (!c.spec.backup.retentionPolicy) problems.push(`Cluster/${cluster}: backups without a retentionPolicy`);
  if (!store.wal)
    problems.push(`Cluster/${cluster}: backup.barmanObjectStore.wal not set (compression, parallelism)`);
  for (const ref of [store.s3Credentials?.accessKeyId, store.s3Credentials?.secretAccessKey]) {
    if (!ref) {
      if (!store.s3Credentials?.inheritFromIAMRole)
        problems.push(`Cluster/${cluster}: no object storage credentials`);
      continue;
    }
    const s = find(objects, 'Secret', ref.name);
    if (secretValue(s, ref.key) === undefined)
      problems.push(`Cluster/${cluster}: backup credentials ${ref.name}/${ref.key} are not rendered`);
  }
  const scheduled = ofKind(objects, 'ScheduledBackup').filter((b) => b.spec?.cluster?.name === cluster);
  if (scheduled.length === 0) problems.push(`Cluster/${cluster}: no ScheduledBackup`);
  for (const b of scheduled) {
    if ((b.spec.method ?? 'barmanObjectStore') !== 'barmanObjectStore')
      problems.push(
        `ScheduledBackup/${b.metadata.name}: method ${b.spec.method}, expected barmanObjectStore`,
      );
  }
  return problems;
}

/**
 * A restore patch: bootstrap.recovery from an external cluster that reads the
 * same archive the backups write, and a new serverName for the restored
 * cluster's own archive (CloudNativePG refuses to archive into a used one).
 */
export function restoreProblems(
  restored: K8sObject[],
  original: K8sObject[],
  cluster = 'timescaledb',
): string[] {
  const problems: string[] = [];
  const before = find(original, 'Cluster', cluster)?.spec?.backup?.barmanObjectStore;
  const c = find(restored, 'Cluster', cluster)?.spec;
  const recovery = c?.bootstrap?.recovery;
  if (!recovery) return [`Cluster/${cluster}: no bootstrap.recovery`];
  if (c.bootstrap.initdb) problems.push(`Cluster/${cluster}: bootstrap has both initdb and recovery`);
  const source = (c.externalClusters ?? []).find((x: Any) => x.name === recovery.source);
  if (!source?.barmanObjectStore)
    return [
      ...problems,
      `Cluster/${cluster}: recovery.source ${recovery.source} is not an external object store`,
    ];
  if (source.barmanObjectStore.destinationPath !== before?.destinationPath)
    problems.push(
      `Cluster/${cluster}: restores from ${source.barmanObjectStore.destinationPath}, backups go to ${before?.destinationPath}`,
    );
  if ((source.barmanObjectStore.serverName ?? recovery.source) !== (before?.serverName ?? cluster))
    problems.push(
      `Cluster/${cluster}: the external cluster's serverName is not the one the backups were written under`,
    );
  const newServer = c.backup?.barmanObjectStore?.serverName ?? cluster;
  if (newServer === (before?.serverName ?? cluster))
    problems.push(
      `Cluster/${cluster}: the restored cluster would archive under the old serverName ${newServer}`,
    );
  return problems;
}

/**
 * Grafana on Kubernetes from the repository's grafana/: the ConfigMaps hold
 * exactly the files of grafana/dashboards and grafana/provisioning, the
 * Deployment mounts them where the provider and Grafana look, and every
 * ${VAR} of the datasource file is set, with the database on timescaledb-rw.
 */
export function grafanaProblems(objects: K8sObject[], root = repoRoot()): string[] {
  const problems: string[] = [];
  const d = find(objects, 'Deployment', 'grafana');
  if (!d) return ['Deployment/grafana is not rendered'];
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  const mounted = (mountPath: string): Any => {
    const m = c.volumeMounts?.find((v: Any) => v.mountPath === mountPath);
    const vol = pod.volumes?.find((v: Any) => v.name === m?.name);
    return vol?.configMap ? find(objects, 'ConfigMap', vol.configMap.name) : undefined;
  };
  const compareDir = (rel: string, mountPath: string) => {
    const cm = mounted(mountPath);
    if (!cm) return problems.push(`Deployment/grafana: nothing from a ConfigMap at ${mountPath}`);
    const dir = path.join(root, rel);
    const files = readdirSync(dir)
      .filter((f) => /\.(json|ya?ml)$/.test(f))
      .sort();
    const keys = Object.keys(cm.data ?? {}).sort();
    if (JSON.stringify(files) !== JSON.stringify(keys))
      problems.push(
        `ConfigMap/${cm.metadata.name}: has [${keys}], ${rel} has [${files}] (list new files in grafana/kustomization.yaml)`,
      );
    for (const f of files.filter((x) => keys.includes(x))) {
      if (cm.data[f] !== readFileSync(path.join(dir, f), 'utf8'))
        problems.push(`ConfigMap/${cm.metadata.name}: ${f} differs from ${rel}/${f}`);
    }
    return cm;
  };
  const provider = parseYaml(
    readFileSync(path.join(root, 'grafana/provisioning/dashboards/sensor-streaming.yaml'), 'utf8'),
  );
  const dashboards = compareDir('grafana/dashboards', provider.providers[0].options.path);
  const size = Object.values((dashboards?.data ?? {}) as Record<string, string>).reduce(
    (n, v) => n + v.length,
    0,
  );
  // `kubectl apply` (client side) copies the object into an annotation limited to 256 KiB
  if (size > 200 * 1024)
    problems.push(
      `dashboards ConfigMap is ${Math.round(size / 1024)} KiB: split it before kubectl apply's 256 KiB annotation limit`,
    );
  if (dashboards?.metadata?.labels?.grafana_dashboard !== '1')
    problems.push('dashboards ConfigMap lacks the grafana_dashboard label the Grafana sidecar selects');
  compareDir('grafana/provisioning/dashboards', '/etc/grafana/provisioning/dashboards');
  compareDir('grafana/provisioning/datasources', '/etc/grafana/provisioning/datasources');
  const datasources = readFileSync(
    path.join(root, 'grafana/provisioning/datasources/sensor-streaming.yaml'),
    'utf8',
  );
  const fromConfigMaps = Object.assign(
    {},
    ...(c.envFrom ?? []).map((e: Any) => find(objects, 'ConfigMap', e.configMapRef?.name)?.data ?? {}),
  );
  for (const [, v] of datasources.matchAll(/\$\{(\w+)\}/g)) {
    if (!envOf(c, v!) && fromConfigMaps[v!] === undefined)
      problems.push(`Deployment/grafana: ${v} is not set`);
  }
  if (!String(fromConfigMaps.SENSOR_STREAMING_DB_HOST ?? '').startsWith('timescaledb-rw:'))
    problems.push('Deployment/grafana: SENSOR_STREAMING_DB_HOST is not the TimescaleDB read-write Service');
  if (!/^https?:\/\/\S+:\d+$/.test(String(fromConfigMaps.SENSOR_STREAMING_PROMETHEUS_URL ?? '')))
    problems.push('Deployment/grafana: SENSOR_STREAMING_PROMETHEUS_URL is not an http URL with a port');
  return problems;
}

/**
 * Monitoring: every ServiceMonitor and PodMonitor carries the label the
 * overlay's Prometheus selects by (kube-prometheus-stack: `release`); the
 * database is scraped by our PodMonitor, not CloudNativePG's deprecated flag.
 */
export function monitoringProblems(objects: K8sObject[], labels: Record<string, string>): string[] {
  const problems: string[] = [];
  const monitors = objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor');
  for (const m of monitors) {
    for (const [k, v] of Object.entries(labels)) {
      if (m.metadata.labels?.[k] !== v) problems.push(`${m.kind}/${m.metadata.name}: no label ${k}=${v}`);
    }
  }
  if (!monitors.some((m) => m.kind === 'PodMonitor' && m.spec?.selector?.matchLabels?.['cnpg.io/cluster']))
    problems.push('no PodMonitor for the CloudNativePG instances');
  if (find(objects, 'Cluster', 'timescaledb')?.spec?.monitoring?.enablePodMonitor)
    problems.push('Cluster/timescaledb: enablePodMonitor makes an unlabelled PodMonitor; use ours');
  return problems;
}

/**
 * The simulator is scaled by fleet size: replicas = ceil(fleet sensors /
 * SENSOR_COUNT), no autoscaler (its CPU is fixed by its own SENSOR_COUNT).
 */
export function fleetProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const sts = find(objects, 'StatefulSet', 'sensor-simulator');
  const fleet = Number(sts?.metadata?.annotations?.[FLEET_ANNOTATION]);
  const perPod = Number(find(objects, 'ConfigMap', 'sensor-simulator-config')?.data?.SENSOR_COUNT);
  if (!Number.isInteger(fleet) || fleet <= 0)
    problems.push(
      `StatefulSet/sensor-simulator: no ${FLEET_ANNOTATION} annotation (simulated sensors wanted)`,
    );
  else if (!Number.isInteger(perPod) || perPod <= 0)
    problems.push('sensor-simulator-config: SENSOR_COUNT is not a positive integer');
  else if (sts.spec.replicas !== Math.ceil(fleet / perPod))
    problems.push(
      `StatefulSet/sensor-simulator: ${sts.spec.replicas} replicas x ${perPod} sensors, but the fleet is ${fleet} (want ${Math.ceil(fleet / perPod)} replicas)`,
    );
  for (const a of [...ofKind(objects, 'HorizontalPodAutoscaler'), ...ofKind(objects, 'ScaledObject')]) {
    if (a.spec?.scaleTargetRef?.name === 'sensor-simulator')
      problems.push(
        `${a.kind}/${a.metadata.name}: autoscales the simulator, whose load is set by its fleet size`,
      );
  }
  return problems;
}

/** Parses a Kubernetes quantity or RabbitMQ size (`10Gi`, `2GB`, `2000000000`) into bytes. */
export function bytesOf(q: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]i?|[kKMGTP]B)?$/.exec(q.trim());
  if (!m) throw new Error(`not a size: ${q}`);
  const unit = m[2] ?? '';
  const pow = 'KMGTP'.indexOf(unit[0]?.toUpperCase() ?? '') + 1;
  const base = unit.endsWith('i') ? 1024 : 1000;
  return Number(m[1]) * base ** pow;
}

/**
 * The smaller traps: a RabbitMQ volume not comfortably above its
 * disk_free_limit (the disk alarm blocks publishers), a KEDA cooldownPeriod
 * that cannot apply (minReplicaCount > 0), a KEDA host that repeats the
 * password, a termination grace not longer than a service's shutdown
 * deadline, and (when `digests`) images not pinned by digest.
 */
export function deploymentHygieneProblems(
  objects: K8sObject[],
  opts: { digests: boolean; root?: string },
): string[] {
  const problems: string[] = [];
  const root = opts.root ?? repoRoot();
  for (const r of ofKind(objects, 'RabbitmqCluster')) {
    const conf = String(r.spec?.rabbitmq?.additionalConfig ?? '');
    const limit = /^disk_free_limit\.absolute\s*=\s*(\S+)/m.exec(conf)?.[1] ?? '2GB'; // the operator's default
    const storage = String(r.spec?.persistence?.storage ?? '10Gi');
    if (bytesOf(storage) < 2 * bytesOf(limit))
      problems.push(
        `RabbitmqCluster/${r.metadata.name}: ${storage} volume is not at least twice disk_free_limit ${limit}`,
      );
  }
  for (const so of ofKind(objects, 'ScaledObject')) {
    if (so.spec?.cooldownPeriod !== undefined && (so.spec.minReplicaCount ?? 0) > 0)
      problems.push(
        `ScaledObject/${so.metadata.name}: cooldownPeriod only applies when scaling to zero; minReplicaCount is ${so.spec.minReplicaCount}`,
      );
  }
  for (const ta of ofKind(objects, 'TriggerAuthentication')) {
    const host = ta.spec?.secretTargetRef?.find((r: Any) => r.parameter === 'host');
    const value = host ? secretValue(find(objects, 'Secret', host.name), host.key) : undefined;
    if (value && URL.canParse(value) && (new URL(value).password !== '' || new URL(value).username !== ''))
      problems.push(
        `TriggerAuthentication/${ta.metadata.name}: host ${host.name}/${host.key} repeats the credentials; use the username and password parameters`,
      );
  }
  for (const w of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
    const pod = (w as Any).spec.template.spec;
    const service = pod.containers[0]?.name as string;
    let deadline: number;
    try {
      deadline = shutdownDeadlineMs(root, service);
    } catch {
      continue; // not one of our services (Grafana)
    }
    const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    if (grace <= deadline)
      problems.push(
        `${w.kind}/${w.metadata.name}: terminationGracePeriodSeconds ${grace / 1000} is not longer than its ${deadline / 1000} s shutdown deadline`,
      );
  }
  if (opts.digests) {
    const images: Array<[string, string]> = [];
    for (const w of objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))) {
      const pod = (w as Any).spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers])
        images.push([`${w.kind}/${w.metadata.name} ${c.name}`, c.image]);
    }
    for (const c of ofKind(objects, 'Cluster')) images.push([`Cluster/${c.metadata.name}`, c.spec.imageName]);
    for (const r of ofKind(objects, 'RabbitmqCluster'))
      images.push([`RabbitmqCluster/${r.metadata.name}`, r.spec.image]);
    for (const [where, image] of images) {
      if (!/@sha256:\S+$/.test(String(image)))
        problems.push(`${where}: image ${image} is not pinned by digest`);
    }
  }
  return problems;
}

/**
 * NetworkPolicies: a default deny of ingress and egress for every pod of the
 * namespace, and every workload's pods selected by some allowing policy.
 */
export function networkPolicyProblems(objects: K8sObject[]): string[] {
  const policies = ofKind(objects, 'NetworkPolicy');
  const empty = (sel: Any) =>
    Object.keys(sel?.matchLabels ?? {}).length === 0 && (sel?.matchExpressions ?? []).length === 0;
  const denyAll = policies.find(
    (p) =>
      empty(p.spec?.podSelector) &&
      ['Ingress', 'Egress'].every((t) => p.spec?.policyTypes?.includes(t)) &&
      !(p.spec?.ingress ?? []).length &&
      !(p.spec?.egress ?? []).length,
  );
  return denyAll ? [] : ['no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)'];
}
