import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, evaluateReadiness, type HealthCheck, type HttpServer } from './http-server.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';

const logger = createLogger({ service: 'test', level: 'silent', pretty: false });
const servers: HttpServer[] = [];

async function startServer(readiness: HealthCheck[], registry: Registry = new Registry()) {
  const server = createHttpServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    readiness,
    logger,
    checkTimeoutMs: 200,
  });
  servers.push(server);
  const port = await server.start();
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  return { server, port, get };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('createHttpServer', () => {
  it('serves the registry in Prometheus text format on /metrics', async () => {
    const { registry } = createMetrics('http-test');
    const { get, port } = await startServer([], registry);
    expect(port).toBeGreaterThan(0);
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    expect(res.text).toContain('# HELP process_cpu_user_seconds_total');
    expect(res.text).toContain('service="http-test"');
  });

  it('answers /healthz 200 and /readyz 200 when every check passes', async () => {
    const { get } = await startServer([
      { name: 'bus', check: () => true },
      { name: 'db', check: async () => true },
    ]);
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: 'ready', checks: { bus: true, db: true } });
  });

  it('answers /readyz 503 naming the failing, throwing and hanging checks', async () => {
    let dbUp = false;
    const { get } = await startServer([
      { name: 'bus', check: () => true },
      { name: 'db', check: () => dbUp },
      {
        name: 'broken',
        check: () => {
          throw new Error('x');
        },
      },
      { name: 'slow', check: () => new Promise<boolean>(() => {}) },
    ]);
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(res.type).toContain('application/json');
    expect(JSON.parse(res.text).failing).toEqual(['db', 'broken', 'slow']);
    dbUp = true;
    expect(JSON.parse((await get('/readyz')).text).failing).toEqual(['broken', 'slow']);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('closes the readiness gate with setReady(false)', async () => {
    const { server, get } = await startServer([{ name: 'bus', check: () => true }]);
    server.setReady(false);
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text).failing).toEqual(['service']);
    server.setReady(true);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers 503 on /healthz and /readyz once shutting down', async () => {
    const { server, get } = await startServer([{ name: 'bus', check: () => true }]);
    server.markShuttingDown();
    expect((await get('/healthz')).status).toBe(503);
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toMatchObject({ shuttingDown: true });
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const { get, port } = await startServer([]);
    expect((await get('/nope')).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' });
    expect(res.status).toBe(405);
    await res.text();
  });

  it('stops listening on stop() and rejects start() when the port is taken', async () => {
    const { server, port } = await startServer([]);
    const clash = createHttpServer({
      port,
      host: '127.0.0.1',
      registry: new Registry(),
      readiness: [],
      logger,
    });
    await expect(clash.start()).rejects.toThrow(/EADDRINUSE/);
    await server.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});

describe('evaluateReadiness', () => {
  it('is ready with no checks', async () => {
    expect(await evaluateReadiness([])).toEqual({ ready: true, checks: {}, failing: [] });
  });
});
