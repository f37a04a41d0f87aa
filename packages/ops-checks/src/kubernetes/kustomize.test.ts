import { DEFAULT_METRICS_PORTS } from '@sensor-streaming/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  definitionsProblems,
  type RabbitDefinitions,
  rabbitPasswordMatches,
} from '../rabbitmq-definitions.js';
import { crossReferenceProblems, secretValue } from './cross-references.js';
import { type K8sObject, OVERLAYS, type Overlay, renderOverlay } from './render.js';
import { schemaProblems } from './schema-validate.js';

const NAMESPACE: Record<Overlay, string> = { dev: 'sensor-streaming-dev', prod: 'sensor-streaming' };
const DEPLOYMENTS = ['sensor-registry', 'measurements-ingester', 'logs-ingester', 'alarm-service'];

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
        /^amqp:\/\/\$\(AMQP_USERNAME\):\$\(AMQP_PASSWORD\)@rabbitmq:5672$/,
      );
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

  it('scales the measurements ingester on its queue depth with KEDA, with the RabbitMQ credentials of the services', () => {
    const so = find(overlay, 'ScaledObject', 'measurements-ingester');
    const trigger = so.spec.triggers.find((t: Any) => t.type === 'rabbitmq');
    expect(trigger.metadata).toMatchObject({ queueName: 'measurements-ingester', mode: 'QueueLength' });
    expect(Number(trigger.metadata.value)).toBeGreaterThan(0);
    const auth = find(overlay, 'TriggerAuthentication', trigger.authenticationRef.name);
    const ref = auth.spec.secretTargetRef.find((r: Any) => r.parameter === 'host');
    const secret = find(overlay, 'Secret', ref.name);
    const url = new URL(secretValue(secret, ref.key)!);
    expect(url.hostname).toBe(`rabbitmq.${NAMESPACE[overlay]}.svc`);
    expect(decodeURIComponent(url.username)).toBe(secretValue(secret, 'username'));
    expect(decodeURIComponent(url.password)).toBe(secretValue(secret, 'password'));
    expect(find(overlay, 'HorizontalPodAutoscaler', 'logs-ingester').spec.maxReplicas).toBeGreaterThan(1);
  });

  it('runs RabbitMQ through the Cluster Operator with MQTT, Prometheus and the definitions import', () => {
    const r = find(overlay, 'RabbitmqCluster', 'rabbitmq');
    expect(r.spec.replicas % 2).toBe(1);
    expect(r.spec.rabbitmq.additionalPlugins).toEqual(
      expect.arrayContaining(['rabbitmq_mqtt', 'rabbitmq_prometheus']),
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
    const app = find(overlay, 'Secret', 'rabbitmq-app-user');
    const user = definitions.users?.find((u) => u.name === secretValue(app, 'username'));
    expect(user, 'the services’ user is in the definitions').toBeDefined();
    expect(rabbitPasswordMatches(user!.password_hash, secretValue(app, 'password')!)).toBe(true);
  });

  it('runs TimescaleDB >= 2.18.1 through CloudNativePG with timescaledb preloaded', () => {
    const c = find(overlay, 'Cluster', 'timescaledb');
    const tag = /:(\d+)-(\d+)\.(\d+)\.(\d+)$/.exec(c.spec.imageName);
    expect(tag, c.spec.imageName).not.toBeNull();
    const [pg, major, minor, patch] = tag!.slice(1).map(Number) as [number, number, number, number];
    expect(pg).toBeGreaterThanOrEqual(15);
    expect(major * 10_000 + minor * 100 + patch).toBeGreaterThanOrEqual(21_801);
    expect(c.spec.postgresql.shared_preload_libraries).toContain('timescaledb');
    expect(c.spec.bootstrap.initdb.database).toBe('sensor_streaming');
  });

  it('migrates with a Job and monitors with ServiceMonitors', () => {
    const job = find(overlay, 'Job', 'sensor-streaming-migrate');
    expect(container(job).command).toEqual(['node', 'packages/db/dist/bin/migrate.js']);
    expect(find(overlay, 'ServiceMonitor', 'sensor-streaming').spec.endpoints[0].port).toBe('metrics');
    expect(find(overlay, 'ServiceMonitor', 'rabbitmq')).toBeDefined();
  });
});

describe('overlay differences', () => {
  it('dev replaces every placeholder credential; prod takes them from its secrets files', () => {
    const secrets = (o: Overlay) => rendered.get(o)!.filter((x) => x.kind === 'Secret');
    for (const s of secrets('dev')) expect(JSON.stringify(s), s.metadata.name).not.toContain('CHANGE-ME');
    // rendered from the committed .example files, which hold the placeholders
    expect(secretValue(find('prod', 'Secret', 'timescaledb-app'), 'password')).toBe('CHANGE-ME');
  });

  it('prod runs 3 RabbitMQ and TimescaleDB nodes and lets an HPA drive the simulator; dev runs one of each', () => {
    expect(find('prod', 'RabbitmqCluster', 'rabbitmq').spec.replicas).toBe(3);
    expect(find('prod', 'Cluster', 'timescaledb').spec.instances).toBe(3);
    expect(find('prod', 'HorizontalPodAutoscaler', 'sensor-simulator').spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: 'sensor-simulator',
    });
    expect(find('dev', 'RabbitmqCluster', 'rabbitmq').spec.replicas).toBe(1);
    expect(
      rendered
        .get('dev')!
        .some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'sensor-simulator'),
    ).toBe(false);
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
