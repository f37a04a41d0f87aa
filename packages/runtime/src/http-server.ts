import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

export interface HealthCheck {
  name: string;
  check(): boolean | Promise<boolean>;
}

export interface HttpServerOptions {
  /** 0 = ephemeral. */
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  registry: Registry;
  readiness: HealthCheck[];
  logger: Logger;
  /** A readiness check slower than this counts as failing. Default 2000 ms. */
  checkTimeoutMs?: number;
}

export interface HttpServer {
  /** Listens; resolves with the bound port. */
  start(): Promise<number>;
  /** Closes the listener and open connections. */
  stop(): Promise<void>;
  /** Manual readiness gate (default open): `false` makes /readyz answer 503. */
  setReady(ready: boolean): void;
  /** From now on /healthz and /readyz answer 503 (called first thing on shutdown). */
  markShuttingDown(): void;
}

export interface ReadinessResult {
  ready: boolean;
  checks: Record<string, boolean>;
  failing: string[];
}

async function runCheck(c: HealthCheck, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return (await Promise.race([Promise.resolve().then(() => c.check()), timeout])) === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check in parallel; a check that throws or times out fails. */
export async function evaluateReadiness(checks: HealthCheck[], timeoutMs = 2000): Promise<ReadinessResult> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const out: Record<string, boolean> = {};
  checks.forEach((c, i) => {
    out[c.name] = results[i] === true;
  });
  const failing = checks.filter((_, i) => results[i] !== true).map((c) => c.name);
  return { ready: failing.length === 0, checks: out, failing };
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * node:http server for operations: GET /metrics (Prometheus text format),
 * /healthz (200 while alive and not shutting down), /readyz (200 only when
 * every readiness check passes; else 503 with the failing check names).
 */
export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const log = opts.logger;
  const timeoutMs = opts.checkTimeoutMs ?? 2000;
  let shuttingDown = false;
  let gateOpen = true;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { error: 'method not allowed' });
      return;
    }
    switch (path) {
      case '/metrics': {
        const text = await opts.registry.metrics();
        send(res, 200, text, opts.registry.contentType);
        return;
      }
      case '/healthz':
        if (shuttingDown) send(res, 503, { status: 'shutting down' });
        else send(res, 200, { status: 'ok' });
        return;
      case '/readyz': {
        if (shuttingDown) {
          send(res, 503, { status: 'not ready', shuttingDown: true, failing: [] });
          return;
        }
        const r = await evaluateReadiness(opts.readiness, timeoutMs);
        const failing = gateOpen ? r.failing : ['service', ...r.failing];
        if (failing.length === 0) send(res, 200, { status: 'ready', checks: r.checks });
        else send(res, 503, { status: 'not ready', failing, checks: r.checks });
        return;
      }
      default:
        send(res, 404, { error: 'not found', endpoints: ['/metrics', '/healthz', '/readyz'] });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'ops endpoint failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  let listening = false;

  return {
    start() {
      return new Promise<number>((resolve, reject) => {
        const onError = (err: Error) => {
          server.off('listening', onListening);
          reject(err);
        };
        const onListening = () => {
          server.off('error', onError);
          listening = true;
          server.on('error', (err) => log.error({ err }, 'ops http server error'));
          const port = (server.address() as AddressInfo).port;
          log.info(
            { port, host: opts.host ?? '0.0.0.0' },
            'ops endpoints listening (/metrics /healthz /readyz)',
          );
          resolve(port);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(opts.port, opts.host ?? '0.0.0.0');
      });
    },
    stop() {
      shuttingDown = true;
      if (!listening) return Promise.resolve();
      listening = false;
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
    setReady(ready) {
      gateOpen = ready;
    },
    markShuttingDown() {
      shuttingDown = true;
    },
  };
}
