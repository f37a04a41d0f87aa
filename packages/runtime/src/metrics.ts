import { collectDefaultMetrics, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
}

/**
 * A registry of the service's own (never the prom-client global one), with the
 * default process metrics and a `service=<name>` label on every series.
 */
export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return { registry };
}
