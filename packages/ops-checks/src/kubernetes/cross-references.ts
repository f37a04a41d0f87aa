import type { K8sObject } from './render.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON, checked field by field
type Any = any;

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
/** Kinds that live in a namespace (everything we render except Namespace). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

const key = (kind: string, name: string) => `${kind}/${name}`;

export function matchesSelector(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> = {},
) {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function matchesLabelSelector(sel: Any, labels: Record<string, string> = {}): boolean {
  if (!sel) return false;
  const okLabels = sel.matchLabels ? matchesSelector(sel.matchLabels, labels) : true;
  const okExpr = (sel.matchExpressions ?? []).every((e: Any) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        return has && e.values.includes(labels[e.key]);
      case 'NotIn':
        return !has || !e.values.includes(labels[e.key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
  return (sel.matchLabels || sel.matchExpressions) && okLabels && okExpr;
}

function podTemplate(o: K8sObject): Any {
  return o.spec?.template;
}

function secretKeys(o: K8sObject | undefined): Set<string> {
  return new Set([...Object.keys(o?.data ?? {}), ...Object.keys(o?.stringData ?? {})]);
}

/** Decoded value of a Secret key (stringData or base64 data). */
export function secretValue(o: K8sObject | undefined, k: string): string | undefined {
  if (o?.stringData?.[k] !== undefined) return o.stringData[k];
  if (o?.data?.[k] !== undefined) return Buffer.from(o.data[k], 'base64').toString('utf8');
  return undefined;
}

export interface CrossReferenceOptions {
  /** Namespace every namespaced object must be in (overlays set one). */
  namespace?: string;
}

/**
 * Checks between the rendered objects, the mistakes a schema cannot see:
 * duplicate objects, objects outside the overlay's namespace; workload
 * selectors that do not select their own pod template; containers without
 * /healthz liveness and /readyz readiness probes on a named container port, or
 * without resource requests and a memory limit; Services, PodDisruptionBudgets
 * and ServiceMonitors that select no pods/Services or name ports that do not
 * exist; HPA and ScaledObject targets that are not rendered, workloads with two
 * autoscalers, autoscaled workloads that pin spec.replicas; ConfigMap and
 * Secret references (envFrom, env valueFrom keys, volumes and their mounts, KEDA
 * TriggerAuthentication, CloudNativePG bootstrap secret, RabbitmqCluster
 * override volumes) that do not resolve to a rendered object and key; env
 * values using $(VAR) before VAR is defined; StatefulSets whose serviceName is
 * not a rendered headless Service.
 */
export function crossReferenceProblems(objects: K8sObject[], opts: CrossReferenceOptions = {}): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, K8sObject>();
  for (const o of objects) {
    const k = key(o.kind, o.metadata.name);
    if (byKey.has(k)) problems.push(`${k}: rendered twice`);
    byKey.set(k, o);
    if (opts.namespace && !CLUSTER_SCOPED.has(o.kind) && o.metadata.namespace !== opts.namespace) {
      problems.push(`${k}: namespace ${o.metadata.namespace} is not ${opts.namespace}`);
    }
  }
  // Secrets cert-manager writes for a rendered Certificate exist once it is issued (keys tls.crt, tls.key, ca.crt)
  for (const c of objects.filter((o) => o.kind === 'Certificate' && o.apiVersion === 'cert-manager.io/v1')) {
    const name = c.spec?.secretName;
    if (typeof name === 'string' && !byKey.has(key('Secret', name)))
      byKey.set(key('Secret', name), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        data: { 'tls.crt': '', 'tls.key': '', 'ca.crt': '' },
      } as K8sObject);
    const issuer = c.spec?.issuerRef;
    if ((issuer?.kind ?? 'Issuer') === 'Issuer' && !byKey.has(key('Issuer', issuer?.name)))
      problems.push(`${key(c.kind, c.metadata.name)}: Issuer ${issuer?.name} is not rendered`);
  }
  for (const i of objects.filter((o) => o.kind === 'Issuer' && o.spec?.ca?.secretName)) {
    const name = i.spec.ca.secretName;
    const made = objects.some((c) => c.kind === 'Certificate' && c.spec?.secretName === name && c.spec?.isCA);
    if (!made && !byKey.has(key('Secret', name)))
      problems.push(`${key(i.kind, i.metadata.name)}: CA Secret ${name} is neither rendered nor issued`);
  }
  const get = (kind: string, name: string) => byKey.get(key(kind, name));
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const services = objects.filter((o) => o.kind === 'Service');

  const checkSecretRef = (where: string, name: string, k?: string) => {
    const s = get('Secret', name);
    if (!s) problems.push(`${where}: Secret ${name} is not rendered`);
    else if (k !== undefined && !secretKeys(s).has(k))
      problems.push(`${where}: Secret ${name} has no key ${k}`);
  };
  const checkConfigMapRef = (where: string, name: string, k?: string) => {
    const c = get('ConfigMap', name);
    if (!c) problems.push(`${where}: ConfigMap ${name} is not rendered`);
    else if (k !== undefined && !Object.hasOwn(c.data ?? {}, k))
      problems.push(`${where}: ConfigMap ${name} has no key ${k}`);
  };

  // workloads: selectors, probes, resources, references, env order
  for (const w of workloads) {
    const id = key(w.kind, w.metadata.name);
    const tpl = podTemplate(w);
    const labels = tpl?.metadata?.labels ?? {};
    if (w.kind !== 'Job' && !matchesLabelSelector(w.spec?.selector, labels)) {
      problems.push(`${id}: spec.selector does not select the pod template's labels`);
    }
    const pod = tpl?.spec ?? {};
    for (const v of pod.volumes ?? []) {
      if (v.secret) checkSecretRef(`${id} volume ${v.name}`, v.secret.secretName);
      if (v.configMap) checkConfigMapRef(`${id} volume ${v.name}`, v.configMap.name);
    }
    const initNames = new Set((pod.initContainers ?? []).map((c: Any) => c.name));
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const cid = `${id} container ${c.name}`;
      const ports = new Map<string, number>((c.ports ?? []).map((p: Any) => [p.name, p.containerPort]));
      const portNumbers = new Set([...ports.values()]);
      // init containers run to completion: no probes. Third-party images (Grafana)
      // need probes too, on their own paths.
      const ours = /(^|\/)sensor-streaming\//.test(String(c.image ?? ''));
      if (w.kind !== 'Job' && !initNames.has(c.name)) {
        for (const [probe, path] of [
          ['livenessProbe', '/healthz'],
          ['readinessProbe', '/readyz'],
        ] as const) {
          const p = c[probe];
          if (!p?.httpGet) problems.push(`${cid}: no ${probe} (httpGet ${path})`);
          else {
            if (ours && p.httpGet.path !== path)
              problems.push(`${cid}: ${probe} path ${p.httpGet.path}, expected ${path}`);
            const port = p.httpGet.port;
            if (typeof port === 'string' ? !ports.has(port) : !portNumbers.has(port)) {
              problems.push(`${cid}: ${probe} port ${port} is not a port of the container`);
            }
          }
        }
      }
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) {
        problems.push(`${cid}: needs resources.requests cpu and memory and resources.limits memory`);
      }
      if (!c.image) problems.push(`${cid}: no image`);
      const volumes = new Set((pod.volumes ?? []).map((v: Any) => v.name));
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) problems.push(`${cid}: volumeMount ${m.name} is not a volume of the pod`);
      }
      for (const e of c.envFrom ?? []) {
        if (e.configMapRef) checkConfigMapRef(`${cid} envFrom`, e.configMapRef.name);
        if (e.secretRef) checkSecretRef(`${cid} envFrom`, e.secretRef.name);
      }
      const defined = new Set<string>();
      for (const e of c.env ?? []) {
        const ref = e.valueFrom;
        if (ref?.secretKeyRef)
          checkSecretRef(`${cid} env ${e.name}`, ref.secretKeyRef.name, ref.secretKeyRef.key);
        if (ref?.configMapKeyRef)
          checkConfigMapRef(`${cid} env ${e.name}`, ref.configMapKeyRef.name, ref.configMapKeyRef.key);
        for (const m of String(e.value ?? '').matchAll(/\$\((\w+)\)/g)) {
          if (!defined.has(m[1]!))
            problems.push(`${cid}: env ${e.name} uses $(${m[1]}) before it is defined`);
        }
        defined.add(e.name);
      }
    }
    if (w.kind === 'StatefulSet') {
      const svc = get('Service', w.spec?.serviceName);
      if (!svc) problems.push(`${id}: serviceName ${w.spec?.serviceName} is not a rendered Service`);
      else if (svc.spec?.clusterIP !== 'None')
        problems.push(`${id}: governing Service ${svc.metadata.name} is not headless`);
    }
  }

  const podsOf = (sel: Record<string, string> | undefined) =>
    workloads.filter((w) => matchesSelector(sel, podTemplate(w)?.metadata?.labels));

  // Services select pods and target existing ports
  for (const s of services) {
    const id = key('Service', s.metadata.name);
    const pods = podsOf(s.spec?.selector);
    if (pods.length === 0) {
      problems.push(`${id}: selector matches no rendered pod template`);
      continue;
    }
    for (const p of s.spec?.ports ?? []) {
      const target = p.targetPort ?? p.port;
      const ok = pods.every((w) =>
        (podTemplate(w).spec.containers ?? []).some((c: Any) =>
          (c.ports ?? []).some((cp: Any) =>
            typeof target === 'string' ? cp.name === target : cp.containerPort === target,
          ),
        ),
      );
      if (!ok) problems.push(`${id}: targetPort ${target} is not a container port of the selected pods`);
    }
  }

  // PodDisruptionBudgets select pods; every long-running workload has one
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
  for (const p of pdbs) {
    if (!workloads.some((w) => matchesLabelSelector(p.spec?.selector, podTemplate(w)?.metadata?.labels))) {
      problems.push(`${key(p.kind, p.metadata.name)}: selects no rendered pods`);
    }
  }
  for (const w of workloads.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
    if (!pdbs.some((p) => matchesLabelSelector(p.spec?.selector, podTemplate(w)?.metadata?.labels))) {
      problems.push(`${key(w.kind, w.metadata.name)}: no PodDisruptionBudget`);
    }
  }

  // autoscalers
  const scaled = new Map<string, string[]>();
  const addScaler = (target: string, by: string) => scaled.set(target, [...(scaled.get(target) ?? []), by]);
  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec?.scaleTargetRef ?? {};
    const id = key(h.kind, h.metadata.name);
    const target = get(ref.kind, ref.name);
    if (!target) problems.push(`${id}: scaleTargetRef ${ref.kind}/${ref.name} is not rendered`);
    else if (target.apiVersion !== ref.apiVersion)
      problems.push(`${id}: scaleTargetRef apiVersion ${ref.apiVersion} is not ${target.apiVersion}`);
    addScaler(key(ref.kind, ref.name), id);
  }
  for (const so of objects.filter((o) => o.kind === 'ScaledObject')) {
    const ref = so.spec?.scaleTargetRef ?? {};
    const kind = ref.kind ?? 'Deployment';
    const id = key(so.kind, so.metadata.name);
    if (!get(kind, ref.name)) problems.push(`${id}: scaleTargetRef ${kind}/${ref.name} is not rendered`);
    addScaler(key(kind, ref.name), id);
    for (const t of so.spec?.triggers ?? []) {
      const auth = t.authenticationRef?.name;
      if (auth && !get('TriggerAuthentication', auth))
        problems.push(`${id}: TriggerAuthentication ${auth} is not rendered`);
    }
  }
  for (const [target, by] of scaled) {
    if (by.length > 1) problems.push(`${target}: scaled by ${by.join(' and ')} at once`);
    if (get(target.split('/')[0]!, target.split('/')[1]!)?.spec?.replicas !== undefined) {
      problems.push(
        `${target}: sets spec.replicas although ${by.join(', ')} owns it (kubectl apply would reset it)`,
      );
    }
  }
  for (const ta of objects.filter((o) => o.kind === 'TriggerAuthentication')) {
    for (const r of ta.spec?.secretTargetRef ?? [])
      checkSecretRef(key(ta.kind, ta.metadata.name), r.name, r.key);
  }

  // ServiceMonitors select rendered Services and name their ports (the RabbitMQ one selects the operator's Service)
  for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const id = key(sm.kind, sm.metadata.name);
    const selected = services.filter((s) => matchesLabelSelector(sm.spec?.selector, s.metadata.labels));
    const operatorManaged = sm.spec?.selector?.matchLabels?.['app.kubernetes.io/component'] === 'rabbitmq';
    if (selected.length === 0 && !operatorManaged) problems.push(`${id}: selects no rendered Service`);
    for (const ep of sm.spec?.endpoints ?? []) {
      for (const s of selected) {
        if (!(s.spec?.ports ?? []).some((p: Any) => p.name === ep.port)) {
          problems.push(`${id}: Service ${s.metadata.name} has no port named ${ep.port}`);
        }
      }
    }
  }

  // operator resources referring to Secrets
  for (const c of objects.filter((o) => o.kind === 'Cluster' && o.apiVersion === 'postgresql.cnpg.io/v1')) {
    const s = c.spec?.bootstrap?.initdb?.secret?.name;
    if (s) {
      checkSecretRef(`${key(c.kind, c.metadata.name)} bootstrap.initdb.secret`, s, 'username');
      checkSecretRef(`${key(c.kind, c.metadata.name)} bootstrap.initdb.secret`, s, 'password');
      if (get('Secret', s)?.type !== 'kubernetes.io/basic-auth')
        problems.push(`Secret ${s}: CloudNativePG needs type kubernetes.io/basic-auth`);
    }
  }
  for (const r of objects.filter((o) => o.kind === 'RabbitmqCluster')) {
    for (const v of r.spec?.override?.statefulSet?.spec?.template?.spec?.volumes ?? []) {
      if (v.secret)
        checkSecretRef(`${key(r.kind, r.metadata.name)} override volume ${v.name}`, v.secret.secretName);
      if (v.configMap)
        checkConfigMapRef(`${key(r.kind, r.metadata.name)} override volume ${v.name}`, v.configMap.name);
    }
  }
  return problems;
}
