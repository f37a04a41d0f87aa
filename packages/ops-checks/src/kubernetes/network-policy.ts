import { matchesLabelSelector } from './cross-references.js';
import type { K8sObject } from './render.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

/** A pod as NetworkPolicies see it: its namespace, labels and named container ports. */
export interface PodEndpoint {
  namespace: string;
  labels: Record<string, string>;
  /** Named container ports (for policies that name a port, e.g. `metrics`). */
  ports?: Record<string, number>;
}

/** An address outside the cluster (the internet, object storage, a webhook). */
export const EXTERNAL: PodEndpoint = { namespace: '', labels: {} };

const isEmptySelector = (sel: Any) =>
  sel !== undefined &&
  Object.keys(sel.matchLabels ?? {}).length === 0 &&
  (sel.matchExpressions ?? []).length === 0;

function selects(sel: Any, labels: Record<string, string>): boolean {
  return isEmptySelector(sel) || matchesLabelSelector(sel, labels);
}

/** Does one `from`/`to` peer of a policy in `policyNs` match `pod`? */
function peerMatches(peer: Any, policyNs: string, pod: PodEndpoint): boolean {
  if (peer.ipBlock) return pod === EXTERNAL || pod.namespace === '';
  if (pod.namespace === '') return false; // in-cluster selectors never match outside addresses
  const nsLabels = { 'kubernetes.io/metadata.name': pod.namespace };
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, nsLabels)
    : pod.namespace === policyNs;
  const podOk = peer.podSelector ? selects(peer.podSelector, pod.labels) : true;
  return nsOk && podOk;
}

function portMatches(
  rulePorts: Any[] | undefined,
  port: number,
  protocol: string,
  dest: PodEndpoint,
): boolean {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    const n = typeof p.port === 'string' ? dest.ports?.[p.port] : p.port;
    if (n === undefined) return false;
    return p.endPort !== undefined ? port >= n && port <= p.endPort : port === n;
  });
}

function policiesFor(policies: K8sObject[], pod: PodEndpoint, type: 'Ingress' | 'Egress'): K8sObject[] {
  return policies.filter(
    (p) =>
      p.metadata.namespace === pod.namespace &&
      selects(p.spec?.podSelector ?? {}, pod.labels) &&
      (p.spec?.policyTypes ?? ['Ingress']).includes(type),
  );
}

/**
 * Whether the rendered NetworkPolicies let `from` open a connection to `to` on
 * `port`: egress from the source (when the source is a pod of a namespace
 * these policies cover) AND ingress at the destination must both allow it.
 * Pods no policy selects are unrestricted, as in Kubernetes.
 */
export function allowsConnection(
  objects: K8sObject[],
  from: PodEndpoint,
  to: PodEndpoint,
  port: number,
  protocol: 'TCP' | 'UDP' = 'TCP',
): boolean {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const egress = policiesFor(policies, from, 'Egress');
  const egressOk =
    from.namespace === '' ||
    egress.length === 0 ||
    egress.some((p) =>
      (p.spec.egress ?? []).some(
        (r: Any) =>
          (!r.to ||
            r.to.length === 0 ||
            r.to.some((peer: Any) => peerMatches(peer, p.metadata.namespace!, to))) &&
          portMatches(r.ports, port, protocol, to),
      ),
    );
  const ingress = policiesFor(policies, to, 'Ingress');
  const ingressOk =
    to.namespace === '' ||
    ingress.length === 0 ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (r: Any) =>
          (!r.from ||
            r.from.length === 0 ||
            r.from.some((peer: Any) => peerMatches(peer, p.metadata.namespace!, from))) &&
          portMatches(r.ports, port, protocol, to),
      ),
    );
  return egressOk && ingressOk;
}
