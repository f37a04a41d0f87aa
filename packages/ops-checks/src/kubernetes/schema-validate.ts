import { Ajv } from 'ajv';
import {
  certManagerCertificateSchema,
  certManagerIssuerSchema,
  cnpgClusterSchema,
  cnpgScheduledBackupSchema,
  rabbitmqClusterSchema,
} from './crd-schemas.js';
import type { K8sObject } from './render.js';

/**
 * Where the JSON schema of each apiVersion lives: the Kubernetes OpenAPI
 * schemas compiled into kubernetes-models (core and built-in groups), KEDA's
 * and the Prometheus Operator's CRD schemas from @kubernetes-models, and our
 * focused schemas for the RabbitMQ and CloudNativePG operators' resources.
 */
const MODEL_PACKAGES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'batch/v1': 'kubernetes-models/batch/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

const ajv = new Ajv({ allErrors: true, strict: false });
const CRD_VALIDATORS: Record<string, ReturnType<Ajv['compile']>> = {
  'rabbitmq.com/v1beta1/RabbitmqCluster': ajv.compile(rabbitmqClusterSchema),
  'postgresql.cnpg.io/v1/Cluster': ajv.compile(cnpgClusterSchema),
  'postgresql.cnpg.io/v1/ScheduledBackup': ajv.compile(cnpgScheduledBackupSchema),
  'cert-manager.io/v1/Issuer': ajv.compile(certManagerIssuerSchema),
  'cert-manager.io/v1/Certificate': ajv.compile(certManagerCertificateSchema),
};

/**
 * kustomize wraps long base64 Secret values over several lines; the API
 * server's base64 decoding (Go's encoding/json) ignores the newlines, so the
 * schema's "byte" format is checked on the value without them.
 */
function apiServerView(obj: K8sObject): K8sObject {
  if (obj.kind !== 'Secret' || !obj.data) return obj;
  const data = Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]));
  return { ...obj, data };
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** Problems of one object against its schema (empty = valid); an apiVersion/kind without a schema is a problem. */
export async function schemaProblems(obj: K8sObject): Promise<string[]> {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const crd = CRD_VALIDATORS[`${obj.apiVersion}/${obj.kind}`];
  if (crd) {
    return crd(obj) ? [] : (crd.errors ?? []).map((e) => `${id}: ${e.instancePath || '/'} ${e.message}`);
  }
  const pkg = MODEL_PACKAGES[obj.apiVersion];
  if (!pkg) return [`${id}: no schema known for apiVersion ${obj.apiVersion}`];
  let Model: ModelClass | undefined;
  try {
    const mod = (await import(`${pkg}/${obj.kind}`)) as Record<string, ModelClass>;
    Model = mod[obj.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) return [`${id}: ${obj.apiVersion} has no kind ${obj.kind}`];
  try {
    new Model(apiServerView(obj)).validate();
    return [];
  } catch (err) {
    return [`${id}: ${(err as Error).message}`];
  }
}
