import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** A command failed: its exit code and output are in the message. */
export class CommandError extends Error {
  readonly code = 'FAULTS_COMMAND_FAILED';
  override readonly name = 'CommandError';
}

/**
 * Runs `file args` (optionally as another user through runuser, when we are root) and resolves with its
 * output; rejects with a CommandError naming the command, exit code and stderr.
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  opts: { asUser?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CommandResult> {
  const env = { ...process.env, ...opts.env };
  let cmd = file;
  let argv = [...args];
  if (opts.asUser !== undefined && process.getuid?.() === 0) {
    // runuser keeps the environment we pass (unlike `su -`), so RABBITMQ_* / PG* variables reach the command
    const vars = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v ?? ''}`);
    cmd = 'runuser';
    argv = ['-u', opts.asUser, '--', 'env', ...vars, file, ...args];
  }
  return await new Promise<CommandResult>((resolve, reject) => {
    execFile(
      cmd,
      argv,
      { env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024, cwd: opts.cwd },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as { code?: unknown }).code;
          reject(
            new CommandError(
              `${file} ${args.join(' ')} failed (exit ${String(code)}): ${String(
                stderr || stdout || err.message,
              )
                .trim()
                .slice(0, 2000)}`,
              { cause: err },
            ),
          );
          return;
        }
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** A TCP port nobody listens on right now (127.0.0.1). */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns true; throws after timeoutMs naming `what`. */
export async function waitUntil(
  fn: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await fn();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
