import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { REPO_DIR } from './run-iotctl.js';

export interface ChildService {
  readonly name: string;
  output(): string;
  /** SIGTERM, wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs a workspace service's main.ts (tsx, source condition) as its own process, as in production. */
export function startService(name: string, script: string, env: Record<string, string>): ChildService {
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
    name,
    output: () => output,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

const run = promisify(execFile);

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database with the repository's migrations applied (through the migrate CLI). */
export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const base = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const url = new URL(base);
  url.pathname = `/${name}`;
  await run(process.execPath, ['--conditions=source', '--import', 'tsx', 'packages/db/src/bin/migrate.ts'], {
    cwd: REPO_DIR,
    env: { ...process.env, DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' },
    timeout: 180_000,
  });
  return {
    url: url.toString(),
    async drop() {
      await run(
        'psql',
        [base.toString(), '-v', 'ON_ERROR_STOP=1', '-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`],
        {
          timeout: 60_000,
        },
      );
    },
  };
}
