import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

describe('createMetrics', () => {
  it('gives each service its own registry with process metrics labelled service=<name>', async () => {
    const a = createMetrics('svc-a');
    const b = createMetrics('svc-b');
    expect(a.registry).not.toBe(b.registry);
    const text = await a.registry.metrics();
    expect(text).toContain('process_cpu_seconds_total{service="svc-a"}');
    expect(text).toMatch(/nodejs_eventloop_lag_seconds\{service="svc-a"\}/);
    expect(text).not.toContain('svc-b');
  });

  it('adds the service label to the service own metrics too', async () => {
    const { registry } = createMetrics('svc-c');
    const c = new Counter({ name: 'things_total', help: 'Things done', registers: [registry] });
    c.inc(3);
    expect(await registry.metrics()).toContain('things_total{service="svc-c"} 3');
  });
});
