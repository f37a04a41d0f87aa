import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntil } from './run-command.js';

/** The repository root (this file is packages/fault-suite/src/service-process.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ServiceProcessOptions {
  /** Name in progress lines and log file, e.g. `measurements-ingester-1`. */
  name: string;
  /** Entry point relative to the repository root, e.g. `services/measurements-ingester/src/main.ts`. */
  entry: string;
  env: Record<string, string>;
  /** Where its stdout/stderr (JSON log lines) are appended. */
  logFile: string;
}

/**
 * One service as a real OS process (node + tsx on the sources, as `pnpm start` runs it), with its /readyz
 * polled over HTTP. kill() is a SIGKILL: no drain, no shutdown hook, what a crash or an OOM kill does.
 */
export class ServiceProcess {
  readonly name: string;
  private readonly opts: ServiceProcessOptions;
  private child: ChildProcess | undefined;
  private port = 0;
  private log: WriteStream;
  private exited: Promise<unknown> | undefined;
  /** Starts so far (1 after the first start). */
  starts = 0;
  /** Exits nobody asked for (not by kill() or stop()). */
  unexpectedExits = 0;
  private expectingExit = false;
  private closed = false;

  constructor(opts: ServiceProcessOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.log = createWriteStream(opts.logFile, { flags: 'a' });
  }

  /** Its SERVICE_NAME (the broker connections are `<serviceName>.publish` / `.consume`). */
  get serviceName(): string {
    return this.opts.env.SERVICE_NAME ?? this.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.port = await freePort();
    this.expectingExit = false;
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', this.opts.entry], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        ...this.opts.env,
        METRICS_PORT: String(this.port),
        METRICS_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = once(child, 'exit').then(([code, signal]) => {
      if (this.expectingExit) return;
      // a crash: counted (it fails the run), and restarted as an orchestrator would, so the rest of the
      // run still means something
      this.unexpectedExits++;
      this.log.write(
        `{"fault-suite":"${this.name} exited by itself (code ${code}, signal ${signal}); restarting"}\n`,
      );
      setTimeout(() => {
        if (!this.closed && !this.running) void this.start();
      }, 1000);
    });
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful) and wait for the exit, SIGKILL after timeoutMs. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: await res.text() };
  }

  async isReady(): Promise<boolean> {
    if (!this.running) return false;
    try {
      return (await this.get('/readyz')).status === 200;
    } catch {
      return false;
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await waitUntil(() => this.isReady(), `${this.name} to be ready`, timeoutMs, 250);
  }

  /** Sum of a Prometheus metric's samples (all labels), or 0. */
  async metric(name: string): Promise<number> {
    try {
      const { body } = await this.get('/metrics');
      let sum = 0;
      for (const line of body.split('\n')) {
        if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
          sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop(5_000).catch(() => undefined);
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }
}
