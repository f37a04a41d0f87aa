import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('../../../..', import.meta.url));

export interface ChildService {
  output(): string;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`); `graceMs` 0 = SIGKILL now (a crash). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs a workspace service's main.ts (tsx, source condition) as its own process, as in production. */
export function startChildService(script: string, env: Record<string, string>): ChildService {
  const child: ChildProcess = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
    cwd: REPO_DIR,
    env: { ...process.env, LOG_LEVEL: 'warn', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    output: () => output,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
