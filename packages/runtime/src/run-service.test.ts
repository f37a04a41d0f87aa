import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { runService } from './run-service.js';

class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  exit(code: number): void {
    this.exits.push(code);
  }
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return {
    lines,
    logDestination: { write: (c: string) => lines.push(JSON.parse(c) as Record<string, unknown>) },
  };
}

const env = { METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' };

describe('runService', () => {
  it('logs every bad variable in one line and exits 1 without building', async () => {
    const proc = new FakeProcess();
    const out = capture();
    let built = false;
    const res = await runService({
      name: 'svc',
      env: { METRICS_PORT: 'x', LOG_LEVEL: 'loud' },
      process: proc,
      logDestination: out.logDestination,
      build: () => {
        built = true;
        return { start: async () => {}, stop: async () => {} };
      },
    });
    expect(res).toBeUndefined();
    expect(built).toBe(false);
    expect(proc.exits).toEqual([1]);
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatchObject({ level: 60, service: 'svc' });
    expect(out.lines[0]?.problems).toEqual([
      'METRICS_PORT: must be an integer, got "x"',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
  });

  it('logs one line and exits 1 when start() fails, leaving no listeners behind', async () => {
    const proc = new FakeProcess();
    const out = capture();
    await runService({
      name: 'svc',
      env,
      process: proc,
      logDestination: out.logDestination,
      build: () => ({
        start: async () => {
          throw new Error('broker unreachable');
        },
        stop: async () => {},
      }),
    });
    expect(proc.exits).toEqual([1]);
    const fatal = out.lines.filter((l) => l.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.msg).toBe('failed to start: broker unreachable');
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('serves readiness from the service checks and shuts down in order: 503, service stop, server close', async () => {
    const proc = new FakeProcess();
    const out = capture();
    const events: string[] = [];
    let connected = false;
    let port = 0;
    const running = await runService({
      name: 'svc',
      env,
      process: proc,
      logDestination: out.logDestination,
      build: ({ config, registry }) => {
        expect(config.metricsPort).toBe(0);
        expect(registry.getSingleMetric('process_cpu_seconds_total')).toBeDefined();
        return {
          readiness: [{ name: 'bus', check: () => connected }],
          start: async () => {
            events.push('start');
          },
          stop: async () => {
            const res = await fetch(`http://127.0.0.1:${port}/readyz`);
            events.push(`stop (readyz ${res.status})`);
          },
        };
      },
    });
    expect(running).toBeDefined();
    port = running?.port ?? 0;
    expect(port).toBeGreaterThan(0);
    const notReady = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ failing: ['bus'] });
    connected = true;
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    await running?.shutdown.shutdown('SIGTERM');
    expect(events).toEqual(['start', 'stop (readyz 503)']);
    expect(proc.exits).toEqual([143]);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    running?.shutdown.uninstall();
  });

  it('waits for its start gates before start(): /readyz is 503 naming the gate, then ready once it opens', async () => {
    const proc = new FakeProcess();
    const out = capture();
    let schemaOk = false;
    let started = false;
    const pending = runService({
      name: 'svc',
      env,
      process: proc,
      logDestination: out.logDestination,
      gateIntervalMs: 20,
      build: () => ({
        readiness: [{ name: 'bus', check: () => true }],
        startGates: [{ name: 'schema', check: () => schemaOk }],
        start: async () => {
          started = true;
        },
        stop: async () => {},
      }),
    });
    const port = await until(
      () => out.lines.find((l) => l.msg?.toString().startsWith('ops endpoints'))?.port,
    );
    await until(() => out.lines.some((l) => l.level === 40));
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ failing: ['schema'] });
    expect(started).toBe(false);
    expect(out.lines.find((l) => l.level === 40)?.msg).toBe(
      'not starting until schema allow it (/readyz is 503)',
    );

    schemaOk = true;
    const running = await pending;
    expect(started).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    await running?.shutdown.shutdown('SIGTERM');
    running?.shutdown.uninstall();
  });

  it('does not start when shut down while waiting for a gate', async () => {
    const proc = new FakeProcess();
    const out = capture();
    let started = false;
    const pending = runService({
      name: 'svc',
      env,
      process: proc,
      logDestination: out.logDestination,
      gateIntervalMs: 10_000,
      build: () => ({
        startGates: [{ name: 'schema', check: () => false }],
        start: async () => {
          started = true;
        },
        stop: async () => {},
      }),
    });
    await until(() => out.lines.some((l) => l.level === 40));
    proc.emit('SIGTERM');
    expect(await pending).toBeUndefined();
    await until(() => proc.exits.length > 0);
    expect(proc.exits).toEqual([143]);
    expect(started).toBe(false);
    proc.removeAllListeners();
  });
});

async function until<T>(probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
