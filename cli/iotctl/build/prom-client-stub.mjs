// The iotctl bundle's stand-in for prom-client (esbuild alias in build/bundle.mjs). A CLI run serves no
// metrics, so the bus's counters and gauges count into nothing here; this spares every command the parse of
// prom-client and @opentelemetry/api (~70 kB of the ~470 kB a command loads). Services use the real one.
class Metric {
  constructor(config) {
    for (const registry of config?.registers ?? []) registry.registerMetric(this, config.name);
  }
  inc() {}
  dec() {}
  set() {}
  observe() {}
  reset() {}
  remove() {}
  labels() {
    return this;
  }
  startTimer() {
    return () => 0;
  }
}

export class Counter extends Metric {}
export class Gauge extends Metric {}
export class Histogram extends Metric {}
export class Summary extends Metric {}

export class Registry {
  #metrics = new Map();
  registerMetric(metric, name) {
    if (name !== undefined) this.#metrics.set(name, metric);
  }
  getSingleMetric(name) {
    return this.#metrics.get(name);
  }
  async metrics() {
    return '';
  }
  async getMetricsAsJSON() {
    return [];
  }
  clear() {
    this.#metrics.clear();
  }
}

export const register = new Registry();
export function collectDefaultMetrics() {}
