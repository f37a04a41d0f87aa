import { DEFAULT_METRICS_PORTS } from '@sensor-streaming/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { definitionsProblems, type RabbitDefinitions } from '../rabbitmq-definitions.js';
import { brokerClientProblems, brokerServerProblems } from './broker-security.js';
import { crossReferenceProblems, secretValue } from './cross-references.js';
import {
  backupProblems,
  deploymentHygieneProblems,
  fleetProblems,
  grafanaProblems,
  migrationProblems,
  monitoringProblems,
  networkPolicyProblems,
  restoreProblems,
} from './deploy-checks.js';
import { allowsConnection, EXTERNAL, type PodEndpoint } from './network-policy.js';
import { type K8sObject, OVERLAYS, type Overlay, renderOverlay } from './render.js';
import { schemaProblems } from './schema-validate.js';

const NAMESPACE: Record<Overlay, string> = { dev: 'sensor-streaming-dev', prod: 'sensor-streaming' };
const DEPLOYMENTS = ['sensor-registry', 'measurements-ingester', 'logs-ingester', 'alarm-service'];
// The labels the operators put on the pods they create.
const RABBITMQ_POD_LABELS = {
  'app.kubernetes.io/name': 'rabbitmq',
  'app.kubernetes.io/component': 'rabbitmq',
};
const CNPG_POD_LABELS = { 'cnpg.io/cluster': 'timescaledb', 'cnpg.io/podRole': 'instance' };

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;
const rendered = new Map<Overlay, K8sObject[]>();
beforeAll(() => {
  for (const o of OVERLAYS) rendered.set(o, renderOverlay(o));
});
const find = (overlay: Overlay, kind: string, name: string): Any => {
  const o = rendered.get(overlay)!.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${overlay}: ${kind}/${name} not rendered`);
  return o;
};
const container = (w: Any) => w.spec.template.spec.containers[0];
const env = (c: Any, name: string) => c.env.find((e: Any) => e.name === name);

describe.each(OVERLAYS)('kubectl kustomize deploy/overlays/%s', (overlay) => {
  it('renders every object valid against its schema', async () => {
    const objects = rendered.get(overlay)!;
    expect(objects.length).toBeGreaterThan(25);
    const problems = (await Promise.all(objects.map(schemaProblems))).flat();
    expect(problems).toEqual([]);
  });

  it('has no dangling reference, unselected pod, missing probe or port, or conflicting autoscaler', () => {
    expect(crossReferenceProblems(rendered.get(overlay)!, { namespace: NAMESPACE[overlay] })).toEqual([]);
  });

  it('runs each service as a Deployment with probes and metrics on its documented port', () => {
    for (const name of DEPLOYMENTS) {
      const c = container(find(overlay, 'Deployment', name));
      const port = DEFAULT_METRICS_PORTS[name];
      expect(c.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: port }));
      expect(env(c, 'METRICS_PORT')?.value).toBe(String(port));
      expect(env(c, 'AMQP_URL')?.value).toMatch(
        /^amqps:\/\/\$\(AMQP_USERNAME\):\$\(AMQP_PASSWORD\)@rabbitmq:5671$/,
      );
      expect(env(c, 'AMQP_USERNAME').valueFrom.secretKeyRef.name).toBe(`rabbitmq-user-${name}`);
      expect(env(c, 'DATABASE_URL')?.value).toContain('@timescaledb-rw:5432/sensor_streaming');
      expect(find(overlay, 'Service', name).spec.ports[0].port).toBe(port);
    }
  });

  it('runs the simulator as a StatefulSet whose pod ordinal is SIMULATOR_INDEX', () => {
    const sts = find(overlay, 'StatefulSet', 'sensor-simulator');
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    const c = container(sts);
    expect(env(c, 'SIMULATOR_INDEX')?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.labels['apps.kubernetes.io/pod-index']",
    );
    expect(env(c, 'SIMULATOR_INDEX_FROM_HOSTNAME')?.value).toBe('true');
    expect(c.envFrom).toContainEqual({ configMapRef: { name: 'sensor-simulator-config' } });
  });

  it('scales the measurements ingester on the depth of each of its shards with KEDA, as that ingester, over TLS', () => {
    const so = find(overlay, 'ScaledObject', 'measurements-ingester');
    const rabbitTriggers = so.spec.triggers.filter((t: Any) => t.type === 'rabbitmq');
    // one trigger per shard queue the Deployment consumes (INGEST_SHARDS), no more, no fewer
    const shards = Number(
      env(container(find(overlay, 'Deployment', 'measurements-ingester')), 'INGEST_SHARDS')?.value,
    );
    expect(shards).toBeGreaterThan(1);
    expect(rabbitTriggers.map((t: Any) => t.metadata.queueName)).toEqual(
      Array.from({ length: shards }, (_, i) => `measurements-ingester.shard-${i}`),
    );
    for (const t of rabbitTriggers) {
      expect(t.metadata).toMatchObject({ mode: 'QueueLength' });
      expect(Number(t.metadata.value)).toBeGreaterThan(0);
    }
    const trigger = rabbitTriggers[0];
    const auth = find(overlay, 'TriggerAuthentication', trigger.authenticationRef.name);
    const ref = (parameter: string) => auth.spec.secretTargetRef.find((r: Any) => r.parameter === parameter);
    const secret = find(overlay, 'Secret', ref('host').name);
    const url = new URL(secretValue(secret, ref('host').key)!);
    expect(url.protocol).toBe('amqps:');
    expect(url.port).toBe('5671');
    expect(url.hostname).toBe(`rabbitmq.${NAMESPACE[overlay]}.svc`);
    expect(url.password).toBe('');
    expect(secretValue(find(overlay, 'Secret', ref('tls').name), ref('tls').key)).toBe('enable');
    expect(ref('ca')).toMatchObject({ name: 'rabbitmq-tls', key: 'ca.crt' });
    // the broker certificate names the host KEDA uses
    expect(find(overlay, 'Certificate', 'rabbitmq-tls').spec.dnsNames).toContain(url.hostname);
    // the ingester's own keys: the password lives in one place
    expect(ref('username')).toMatchObject({ name: 'rabbitmq-user-measurements-ingester', key: 'username' });
    expect(ref('password')).toMatchObject({ name: 'rabbitmq-user-measurements-ingester', key: 'password' });
    expect(find(overlay, 'HorizontalPodAutoscaler', 'logs-ingester').spec.maxReplicas).toBeGreaterThan(1);
  });

  it('runs RabbitMQ through the Cluster Operator with MQTT, Prometheus and the definitions import', () => {
    const r = find(overlay, 'RabbitmqCluster', 'rabbitmq');
    expect(r.spec.replicas % 2).toBe(1);
    expect(r.spec.rabbitmq.additionalPlugins).toEqual(
      expect.arrayContaining(['rabbitmq_mqtt', 'rabbitmq_prometheus', 'rabbitmq_consistent_hash_exchange']),
    );
    const mount = r.spec.override.statefulSet.spec.template.spec.containers[0].volumeMounts[0];
    const volume = r.spec.override.statefulSet.spec.template.spec.volumes.find(
      (v: Any) => v.name === mount.name,
    );
    expect(r.spec.rabbitmq.additionalConfig).toContain(
      `load_definitions = ${mount.mountPath}/definitions.json`,
    );
    const definitions = JSON.parse(
      secretValue(find(overlay, 'Secret', volume.secret.secretName), 'definitions.json')!,
    ) as RabbitDefinitions;
    expect(definitionsProblems(definitions)).toEqual([]);
    // the ingesters' data queues, for the INGEST_SHARDS their Deployments run here, so data published before
    // the first ingester starts is kept (every argument and binding: definitions-sync.test.ts)
    for (const name of ['measurements-ingester', 'logs-ingester']) {
      const shards = Number(env(container(find(overlay, 'Deployment', name)), 'INGEST_SHARDS')?.value ?? 1);
      const queues = definitions.queues
        ?.map((q) => q.name)
        .filter((n) => n === name || n.startsWith(`${name}.`));
      expect(queues).toEqual(
        shards === 1 ? [name] : Array.from({ length: shards }, (_, i) => `${name}.shard-${i}`),
      );
    }
    // no guest (not created when definitions load at boot); every service's user with its password
    expect(definitions.users?.map((u) => u.name)).not.toContain('guest');
    expect(brokerClientProblems(rendered.get(overlay)!)).toEqual([]);
  });

  it('serves TLS, refuses anonymous MQTT, raises the open-files limit; prod has no plain listener', () => {
    expect(brokerServerProblems(rendered.get(overlay)!, { prod: overlay === 'prod' })).toEqual([]);
    const r = find(overlay, 'RabbitmqCluster', 'rabbitmq');
    expect(r.spec.tls.secretName).toBe('rabbitmq-tls');
    expect(find(overlay, 'Certificate', 'rabbitmq-tls').spec.issuerRef.name).toBe('sensor-streaming-ca');
  });

  it('runs TimescaleDB >= 2.18.1 through CloudNativePG with timescaledb preloaded', () => {
    const c = find(overlay, 'Cluster', 'timescaledb');
    const tag = /:(\d+)-(\d+)\.(\d+)\.(\d+)(@sha256:\S+)?$/.exec(c.spec.imageName);
    expect(tag, c.spec.imageName).not.toBeNull();
    const [pg, major, minor, patch] = tag!.slice(1, 5).map(Number) as [number, number, number, number];
    expect(pg).toBeGreaterThanOrEqual(15);
    expect(major * 10_000 + minor * 100 + patch).toBeGreaterThanOrEqual(21_801);
    expect(c.spec.postgresql.shared_preload_libraries).toContain('timescaledb');
    expect(c.spec.bootstrap.initdb.database).toBe('sensor_streaming');
  });

  it('migrates in an init container of every database pod (advisory lock), never in an immutable Job', () => {
    expect(migrationProblems(rendered.get(overlay)!)).toEqual([]);
    for (const name of DEPLOYMENTS) {
      const init = find(overlay, 'Deployment', name).spec.template.spec.initContainers[0];
      expect(init.command).toEqual(['node', 'packages/db/dist/bin/migrate.js']);
    }
    expect(rendered.get(overlay)!.filter((o) => o.kind === 'Job')).toEqual([]);
  });

  it('labels every ServiceMonitor and PodMonitor for kube-prometheus-stack and scrapes the database', () => {
    expect(monitoringProblems(rendered.get(overlay)!, { release: 'kube-prometheus-stack' })).toEqual([]);
    expect(find(overlay, 'ServiceMonitor', 'sensor-streaming').spec.endpoints[0].port).toBe('metrics');
  });

  it('runs Grafana from the repository grafana/ files, wired to TimescaleDB and Prometheus', () => {
    expect(grafanaProblems(rendered.get(overlay)!)).toEqual([]);
  });

  it('sizes the simulator fleet as replicas x SENSOR_COUNT, without an autoscaler', () => {
    expect(fleetProblems(rendered.get(overlay)!)).toEqual([]);
  });

  it('denies by default and allows exactly the flows the design needs', () => {
    expect(networkPolicyProblems(rendered.get(overlay)!)).toEqual([]);
    expect(flowProblems(rendered.get(overlay)!, overlay)).toEqual([]);
  });

  it('has none of the smaller traps: disk alarm at start, inert KEDA cooldown, repeated password, short grace', () => {
    expect(deploymentHygieneProblems(rendered.get(overlay)!, { digests: overlay === 'prod' })).toEqual([]);
  });
});

describe('overlay differences', () => {
  it('dev replaces every placeholder credential; prod takes them from its secrets files', () => {
    const secrets = (o: Overlay) => rendered.get(o)!.filter((x) => x.kind === 'Secret');
    for (const s of secrets('dev')) expect(JSON.stringify(s), s.metadata.name).not.toContain('CHANGE-ME');
    // rendered from the committed .example files, which hold the placeholders
    expect(secretValue(find('prod', 'Secret', 'timescaledb-app'), 'password')).toBe('CHANGE-ME');
  });

  it('prod runs 3 RabbitMQ and TimescaleDB nodes, backs TimescaleDB up and pins images by digest; dev runs one of each', () => {
    expect(find('prod', 'RabbitmqCluster', 'rabbitmq').spec.replicas).toBe(3);
    expect(find('prod', 'Cluster', 'timescaledb').spec.instances).toBe(3);
    expect(backupProblems(rendered.get('prod')!)).toEqual([]);
    expect(find('dev', 'RabbitmqCluster', 'rabbitmq').spec.replicas).toBe(1);
    expect(deploymentHygieneProblems(rendered.get('dev')!, { digests: true }).length).toBeGreaterThan(0);
  });

  it("prod's restore patch recovers from the backup archive into a new archive", () => {
    const restored = renderOverlay('prod', undefined, { extraPatches: ['restore.yaml'] });
    expect(restoreProblems(restored, rendered.get('prod')!)).toEqual([]);
    return Promise.all(restored.map(schemaProblems)).then((p) => expect(p.flat()).toEqual([]));
  });
});

describe('the validators catch', () => {
  const mutated = (change: (objects: Any[]) => void): string[] => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    change(objects);
    return crossReferenceProblems(objects, { namespace: NAMESPACE.dev });
  };
  const byName = (objects: Any[], kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);

  it('a secretKeyRef to a missing key, and a ConfigMap that is not rendered', () => {
    const problems = mutated((objects) => {
      env(
        container(byName(objects, 'Deployment', 'logs-ingester')),
        'DB_PASSWORD',
      ).valueFrom.secretKeyRef.key = 'pass';
      container(byName(objects, 'Deployment', 'alarm-service')).envFrom[0].configMapRef.name = 'nope';
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'Deployment/logs-ingester container logs-ingester env DB_PASSWORD: Secret timescaledb-app has no key pass',
        'Deployment/alarm-service container alarm-service envFrom: ConfigMap nope is not rendered',
      ]),
    );
  });

  it('a probe on a port the container does not have, and a selector that misses its pods', () => {
    const problems = mutated((objects) => {
      container(byName(objects, 'Deployment', 'sensor-registry')).readinessProbe.httpGet.port = 'http';
      byName(objects, 'Deployment', 'alarm-service').spec.selector.matchLabels['app.kubernetes.io/name'] =
        'alarms';
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'Deployment/sensor-registry container sensor-registry: readinessProbe port http is not a port of the container',
        "Deployment/alarm-service: spec.selector does not select the pod template's labels",
      ]),
    );
  });

  it('an autoscaler whose target is missing, two autoscalers on one workload, and pinned replicas', () => {
    const problems = mutated((objects) => {
      byName(objects, 'HorizontalPodAutoscaler', 'logs-ingester').spec.scaleTargetRef.name = 'logs-ingestor';
      const hpa = structuredClone(byName(objects, 'HorizontalPodAutoscaler', 'logs-ingester'));
      hpa.metadata.name = 'measurements-ingester';
      hpa.spec.scaleTargetRef.name = 'measurements-ingester';
      objects.push(hpa);
      byName(objects, 'Deployment', 'measurements-ingester').spec.replicas = 2;
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'HorizontalPodAutoscaler/logs-ingester: scaleTargetRef Deployment/logs-ingestor is not rendered',
        'Deployment/measurements-ingester: scaled by HorizontalPodAutoscaler/measurements-ingester and ScaledObject/measurements-ingester at once',
        expect.stringMatching(/^Deployment\/measurements-ingester: sets spec.replicas/),
      ]),
    );
  });

  it('a volumeMount without its volume', () => {
    const problems = mutated((objects) => {
      byName(objects, 'StatefulSet', 'sensor-simulator').spec.template.spec.volumes = [];
    });
    expect(problems).toContain(
      'StatefulSet/sensor-simulator container sensor-simulator: volumeMount tmp is not a volume of the pod',
    );
  });

  it('$(VAR) used before VAR is defined', () => {
    const problems = mutated((objects) => {
      container(byName(objects, 'Deployment', 'sensor-registry')).env.reverse();
    });
    expect(problems).toContainEqual(
      expect.stringMatching(/env AMQP_URL uses \$\(AMQP_\w+\) before it is defined/),
    );
  });

  it('migrations in a Job, or a database pod that does not migrate first', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const registry = byName(objects, 'Deployment', 'sensor-registry');
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'sensor-streaming-migrate' },
      spec: { template: { spec: { containers: [registry.spec.template.spec.initContainers[0]] } } },
    };
    objects.push(job);
    delete byName(objects, 'Deployment', 'logs-ingester').spec.template.spec.initContainers;
    env(registry.spec.template.spec.initContainers[0], 'DATABASE_URL').value = 'postgres://elsewhere/x';
    byName(objects, 'Deployment', 'alarm-service').spec.template.spec.initContainers[0].image = 'old:1';
    expect(migrationProblems(objects)).toEqual([
      "Job/sensor-streaming-migrate: migrations in a Job break the next release's apply (immutable)",
      'Deployment/alarm-service: migrates with old:1, runs sensor-streaming/alarm-service:dev (one release, one image)',
      'Deployment/logs-ingester: uses the database but its first init container does not run the migrations',
      "Deployment/sensor-registry: the migrate init container's DATABASE_URL differs from the service's",
    ]);
  });

  it('no backups, no retention, no ScheduledBackup, and a restore into the old archive', () => {
    const prod = structuredClone(rendered.get('prod')!) as Any[];
    delete byName(prod, 'Cluster', 'timescaledb').spec.backup.retentionPolicy;
    const withoutSchedule = prod.filter((o) => o.kind !== 'ScheduledBackup');
    expect(backupProblems(withoutSchedule)).toEqual([
      'Cluster/timescaledb: backups without a retentionPolicy',
      'Cluster/timescaledb: no ScheduledBackup',
    ]);
    expect(backupProblems(rendered.get('dev')!)).toEqual([
      'Cluster/timescaledb: no backup.barmanObjectStore (WAL archiving)',
    ]);
    const restored = structuredClone(prod);
    const spec = byName(restored, 'Cluster', 'timescaledb').spec;
    spec.bootstrap = { recovery: { source: 'timescaledb-backup' } };
    spec.externalClusters = [
      {
        name: 'timescaledb-backup',
        barmanObjectStore: { destinationPath: 's3://other/x', serverName: 'timescaledb' },
      },
    ];
    expect(restoreProblems(restored, rendered.get('prod')!)).toEqual([
      'Cluster/timescaledb: restores from s3://other/x, backups go to s3://CHANGE-ME-backup-bucket/sensor-streaming',
      'Cluster/timescaledb: the restored cluster would archive under the old serverName timescaledb',
    ]);
  });

  it('Grafana dashboards that drift from grafana/, a missing one, and a datasource variable not set', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const dashboards = byName(objects, 'ConfigMap', 'grafana-dashboards-sensor-streaming');
    dashboards.data['alarms.json'] = '{}';
    delete dashboards.data['pipeline.json'];
    dashboards.data['database.json'] = 'x'.repeat(300 * 1024);
    delete byName(objects, 'ConfigMap', 'grafana-config').data.SENSOR_STREAMING_PROMETHEUS_URL;
    const problems = grafanaProblems(objects);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^ConfigMap\/grafana-dashboards-sensor-streaming: has \[.*\], grafana\/dashboards has/,
        ),
        'ConfigMap/grafana-dashboards-sensor-streaming: alarms.json differs from grafana/dashboards/alarms.json',
        'Deployment/grafana: SENSOR_STREAMING_PROMETHEUS_URL is not set',
        expect.stringMatching(/^dashboards ConfigMap is \d+ KiB: split it/),
      ]),
    );
  });

  it('a monitor without the release label, and the operator-made PodMonitor', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    delete byName(objects, 'PodMonitor', 'timescaledb').metadata.labels.release;
    byName(objects, 'Cluster', 'timescaledb').spec.monitoring = { enablePodMonitor: true };
    expect(monitoringProblems(objects, { release: 'kube-prometheus-stack' })).toEqual([
      'PodMonitor/timescaledb: no label release=kube-prometheus-stack',
      'Cluster/timescaledb: enablePodMonitor makes an unlabelled PodMonitor; use ours',
    ]);
  });

  it('a simulator fleet whose replicas do not add up, and a CPU autoscaler on the simulator', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    byName(objects, 'StatefulSet', 'sensor-simulator').spec.replicas = 3;
    const hpa = structuredClone(byName(objects, 'HorizontalPodAutoscaler', 'logs-ingester'));
    hpa.metadata.name = 'sensor-simulator';
    hpa.spec.scaleTargetRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'sensor-simulator' };
    objects.push(hpa);
    expect(fleetProblems(objects)).toEqual([
      'StatefulSet/sensor-simulator: 3 replicas x 25 sensors, but the fleet is 50 (want 2 replicas)',
      'HorizontalPodAutoscaler/sensor-simulator: autoscales the simulator, whose load is set by its fleet size',
    ]);
  });

  it('no default deny, and a policy that drops a needed flow or opens an unneeded one', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const withoutDeny = objects.filter(
      (o) => !(o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny'),
    );
    expect(networkPolicyProblems(withoutDeny)).toHaveLength(1);
    byName(objects, 'NetworkPolicy', 'app-egress').spec.egress[0].ports.pop(); // MQTT
    // the database must refuse the simulator even if the simulator's egress were opened
    byName(objects, 'NetworkPolicy', 'services-to-database').spec.podSelector = {};
    expect(flowProblems(objects, 'dev')).toEqual(['denied: simulator -> MQTT']);
    byName(objects, 'NetworkPolicy', 'timescaledb').spec.ingress[0].from.push({
      podSelector: { matchLabels: { 'app.kubernetes.io/component': 'simulator' } },
    });
    expect(flowProblems(objects, 'dev')).toEqual([
      'denied: simulator -> MQTT',
      'allowed: simulator -> database',
    ]);
  });

  it('a RabbitMQ volume at the disk alarm, an inert KEDA cooldown, a host with the password, a short grace, a floating tag', () => {
    const objects = structuredClone(rendered.get('prod')!) as Any[];
    byName(objects, 'RabbitmqCluster', 'rabbitmq').spec.persistence.storage = '2Gi';
    byName(objects, 'ScaledObject', 'measurements-ingester').spec.cooldownPeriod = 300;
    byName(objects, 'Secret', 'rabbitmq-keda').stringData = {
      ...byName(objects, 'Secret', 'rabbitmq-keda').stringData,
      host: 'amqps://u:p@rabbitmq.sensor-streaming.svc:5671/%2F',
    };
    delete byName(objects, 'Secret', 'rabbitmq-keda').data?.host;
    byName(objects, 'StatefulSet', 'sensor-simulator').spec.template.spec.terminationGracePeriodSeconds = 20;
    byName(objects, 'Deployment', 'logs-ingester').spec.template.spec.containers[0].image =
      'x/logs-ingester:latest';
    expect(deploymentHygieneProblems(objects, { digests: true })).toEqual([
      'RabbitmqCluster/rabbitmq: 2Gi volume is not at least twice disk_free_limit 2GB',
      'ScaledObject/measurements-ingester: cooldownPeriod only applies when scaling to zero; minReplicaCount is 3',
      'TriggerAuthentication/rabbitmq-keda: host rabbitmq-keda/host repeats the credentials; use the username and password parameters',
      'StatefulSet/sensor-simulator: terminationGracePeriodSeconds 20 is not longer than its 20 s shutdown deadline',
      'Deployment/logs-ingester logs-ingester: image x/logs-ingester:latest is not pinned by digest',
    ]);
  });

  it('a service as guest or as the administrator, a shared or wrong credential, plain URLs, a missing CA', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const secret = (name: string) => byName(objects, 'Secret', name);
    const setUser = (name: string, username: string, password: string) => {
      secret(name).data = {};
      secret(name).stringData = { username, password };
    };
    setUser('rabbitmq-user-logs-ingester', 'guest', 'guest');
    setUser('rabbitmq-user-alarm-service', 'admin', 'dev-admin');
    setUser('rabbitmq-user-sensor-registry', 'svc.sensor-registry', 'not-its-password');
    const registry = byName(objects, 'Deployment', 'measurements-ingester').spec.template.spec;
    env(registry.containers[0], 'AMQP_URL').value = 'amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@rabbitmq:5672';
    // the simulator borrows the ingester's Secret, and has lost its CA
    const sim = byName(objects, 'StatefulSet', 'sensor-simulator').spec.template.spec;
    for (const e of sim.containers[0].env)
      if (e.valueFrom?.secretKeyRef?.name === 'rabbitmq-user-sensor-simulator')
        e.valueFrom.secretKeyRef.name = 'rabbitmq-user-measurements-ingester';
    sim.containers[0].env = sim.containers[0].env.filter((e: Any) => e.name !== 'TLS_CA_FILE');
    env(sim.containers[0], 'MQTT_URL').value = 'mqtt://$(AMQP_USERNAME):$(AMQP_PASSWORD)@rabbitmq:1883';
    expect(brokerClientProblems(objects)).toEqual([
      'Deployment/alarm-service alarm-service: connects as admin, an administrator (each service has its own least-privilege user)',
      'Deployment/logs-ingester logs-ingester: connects as guest (development only; each service has its own user)',
      'Deployment/measurements-ingester measurements-ingester: AMQP_URL is not amqps://',
      "Deployment/sensor-registry sensor-registry: the password in rabbitmq-user-sensor-registry does not match svc.sensor-registry's hash in the definitions",
      'StatefulSet/sensor-simulator sensor-simulator: MQTT_URL is not mqtts://',
      'StatefulSet/sensor-simulator sensor-simulator: no CA: TLS_CA_FILE is not set',
      'Secret rabbitmq-user-measurements-ingester: broker credentials shared by Deployment/measurements-ingester, StatefulSet/sensor-simulator',
    ]);
  });

  it('a CA that is not mounted, and a mount that hands a service the broker key', () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const spec = (name: string) => byName(objects, 'Deployment', name).spec.template.spec;
    spec('logs-ingester').volumes = spec('logs-ingester').volumes.filter(
      (v: Any) => v.name !== 'rabbitmq-ca',
    );
    spec('logs-ingester').containers[0].volumeMounts = spec(
      'logs-ingester',
    ).containers[0].volumeMounts.filter((m: Any) => m.name !== 'rabbitmq-ca');
    delete spec('alarm-service').volumes.find((v: Any) => v.name === 'rabbitmq-ca').secret.items;
    expect(brokerClientProblems(objects)).toEqual([
      'Deployment/alarm-service alarm-service: mounts all of Secret rabbitmq-tls (private key included): project ca.crt only',
      'Deployment/logs-ingester logs-ingester: no CA: TLS_CA_FILE /etc/sensor-streaming/tls/ca.crt is not a file of a mounted Secret or ConfigMap',
    ]);
  });

  it('anonymous MQTT on, no TLS, the open-files limit left alone, and in prod a plain port exposed', () => {
    const objects = structuredClone(rendered.get('prod')!) as Any[];
    const r = byName(objects, 'RabbitmqCluster', 'rabbitmq');
    r.spec.rabbitmq.additionalConfig = r.spec.rabbitmq.additionalConfig.replace(
      'mqtt.allow_anonymous = false',
      'mqtt.allow_anonymous = true',
    );
    delete r.spec.override.statefulSet.spec.template.spec.containers[0].command;
    delete r.spec.tls.disableNonTLSListeners;
    byName(objects, 'NetworkPolicy', 'rabbitmq').spec.ingress[0].ports.push({ protocol: 'TCP', port: 5672 });
    expect(brokerServerProblems(objects, { prod: true })).toEqual([
      'RabbitmqCluster/rabbitmq: anonymous MQTT is not refused (mqtt.allow_anonymous = false missing)',
      'RabbitmqCluster/rabbitmq: open-files limit not raised is below 65536 (one descriptor per connection)',
      'RabbitmqCluster/rabbitmq: plain AMQP 5672 and MQTT 1883 are open (spec.tls.disableNonTLSListeners is not true)',
      'NetworkPolicy/rabbitmq: admits clients to the plain port 5672',
    ]);
    delete r.spec.tls;
    expect(brokerServerProblems(objects, { prod: false })).toContain(
      'RabbitmqCluster/rabbitmq: no spec.tls.secretName: the broker serves no TLS',
    );
  });

  it('schema violations in core, KEDA and operator resources', async () => {
    const objects = structuredClone(rendered.get('dev')!) as Any[];
    const deployment = byName(objects, 'Deployment', 'sensor-registry');
    deployment.spec.replicas = '2';
    expect(await schemaProblems(deployment)).toEqual([
      'Deployment/sensor-registry: data/spec/replicas must be integer',
    ]);
    const so = byName(objects, 'ScaledObject', 'measurements-ingester');
    delete so.spec.scaleTargetRef;
    expect((await schemaProblems(so)).join()).toMatch(/required property scaleTargetRef/);
    const pg = byName(objects, 'Cluster', 'timescaledb');
    pg.spec.postgresql.parameters.max_connections = 200;
    expect((await schemaProblems(pg)).join()).toMatch(/parameters\/max_connections must be string/);
    const mq = byName(objects, 'RabbitmqCluster', 'rabbitmq');
    mq.spec.rabbitmq.additionalPlugin = ['x'];
    expect((await schemaProblems(mq)).join()).toMatch(/must NOT have additional properties/);
    expect(
      await schemaProblems({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }),
    ).toEqual(['Thing/x: no schema known for apiVersion example.com/v1']);
  });
});

/** Flows the design needs that the NetworkPolicies deny, and flows it must not have that they allow. */
function flowProblems(objects: K8sObject[], overlay: Overlay): string[] {
  const ns = NAMESPACE[overlay];
  const pod = (kind: string, name: string): PodEndpoint => {
    const w = objects.find((o) => o.kind === kind && o.metadata.name === name) as Any;
    const ports = Object.fromEntries(
      w.spec.template.spec.containers.flatMap((c: Any) =>
        (c.ports ?? []).map((p: Any) => [p.name, p.containerPort]),
      ),
    );
    return { namespace: ns, labels: w.spec.template.metadata.labels, ports };
  };
  const rabbit: PodEndpoint = { namespace: ns, labels: RABBITMQ_POD_LABELS };
  const db: PodEndpoint = { namespace: ns, labels: CNPG_POD_LABELS };
  const at = (namespace: string): PodEndpoint => ({ namespace, labels: {} });
  const sim = pod('StatefulSet', 'sensor-simulator');
  const grafana = pod('Deployment', 'grafana');
  const allowed: Array<[string, PodEndpoint, PodEndpoint, number]> = [
    ['simulator -> AMQP', sim, rabbit, 5671],
    ['simulator -> MQTT', sim, rabbit, 8883],
    ['grafana -> database', grafana, db, 5432],
    ['KEDA -> AMQP', at('keda'), rabbit, 5671],
    // prod: TLS only, Prometheus on 15691
    ['Prometheus -> RabbitMQ metrics', at('monitoring'), rabbit, overlay === 'prod' ? 15691 : 15692],
    ['RabbitMQ operator -> management', at('rabbitmq-system'), rabbit, overlay === 'prod' ? 15671 : 15672],
    ['Prometheus -> database metrics', at('monitoring'), db, 9187],
    ['Prometheus -> grafana datasource', grafana, at('monitoring'), 9090],
    ['CloudNativePG operator -> instance status', at('cnpg-system'), db, 8000],
    ['database -> object storage', db, EXTERNAL, 443],
    ['alarm-service -> webhook', pod('Deployment', 'alarm-service'), EXTERNAL, 443],
    ['replication', db, db, 5432],
  ];
  const denied: Array<[string, PodEndpoint, PodEndpoint, number]> = [];
  for (const name of DEPLOYMENTS) {
    const p = pod('Deployment', name);
    allowed.push([`${name} -> AMQP`, p, rabbit, 5671], [`${name} -> database`, p, db, 5432]);
    denied.push([`${name} -> plain AMQP`, p, rabbit, 5672], [`${name} -> plain MQTT`, p, rabbit, 1883]);
    allowed.push([`Prometheus -> ${name}`, at('monitoring'), p, DEFAULT_METRICS_PORTS[name]!]);
  }
  denied.push(
    ['simulator -> database', sim, db, 5432],
    ['simulator -> plain AMQP', sim, rabbit, 5672],
    ['simulator -> plain MQTT', sim, rabbit, 1883],
    ['KEDA -> plain AMQP', at('keda'), rabbit, 5672],
    ['other namespace -> AMQP', at('default'), rabbit, 5671],
    ['other namespace -> database', at('default'), db, 5432],
    ['other namespace -> metrics', at('default'), pod('Deployment', 'sensor-registry'), 9101],
    ['ingester -> internet', pod('Deployment', 'measurements-ingester'), EXTERNAL, 443],
    ['simulator -> internet', sim, EXTERNAL, 443],
    ['grafana -> AMQP', grafana, rabbit, 5671],
  );
  return [
    ...allowed
      .filter(([, a, b, port]) => !allowsConnection(objects, a, b, port))
      .map(([n]) => `denied: ${n}`),
    ...denied.filter(([, a, b, port]) => allowsConnection(objects, a, b, port)).map(([n]) => `allowed: ${n}`),
    ...(allowsConnection(objects, sim, EXTERNAL, 53, 'UDP') ? [] : ['denied: DNS']),
  ];
}
