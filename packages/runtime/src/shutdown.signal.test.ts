import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('../test/fixtures/shutdown-child.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  waitFor(msg: string): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnChild(mode: string, env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, mode], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.msg === line.msg)) w.resolve(line);
      i = buf.indexOf('\n');
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    proc,
    lines,
    exited,
    waitFor: (msg) => {
      const seen = lines.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) => waiters.push({ msg, resolve })),
        exited.then(() => {
          throw new Error(`child exited before logging "${msg}"; stderr: ${stderr}`);
        }),
      ]);
    },
  };
}

describe.concurrent('shutdown on real signals (child process)', () => {
  it('runs stop() on SIGTERM and exits 143', async () => {
    const child = spawnChild('ok');
    await child.waitFor('ready');
    child.proc.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 143, signal: null });
    expect(child.lines.map((l) => l.msg)).toEqual([
      'ready',
      'shutting down',
      'stop ran',
      'shutdown complete',
    ]);
  });

  it('cuts a hanging stop() at the deadline and exits 1', async () => {
    const child = spawnChild('hang', { DEADLINE_MS: '300' });
    await child.waitFor('ready');
    const t0 = Date.now();
    child.proc.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(child.lines.map((l) => l.msg)).toContain('stop ran');
    expect(child.lines.map((l) => l.msg)).toContain('shutdown deadline exceeded, exiting anyway');
  });

  it('runService: serves /readyz, and on SIGINT stops the service and the ops server and exits 130', async () => {
    const child = spawnChild('service');
    const started = await child.waitFor('service started');
    const port = started.metricsPort as number;
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    child.proc.kill('SIGINT');
    expect(await child.exited).toEqual({ code: 130, signal: null });
    expect(child.lines.map((l) => l.msg)).toContain('stop ran');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
