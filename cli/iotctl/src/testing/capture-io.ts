import { PassThrough } from 'node:stream';
import type { Io } from '../io.js';

export interface CapturedIo extends Io {
  out(): string;
  err(): string;
  interrupt(): void;
}

/** An Io that records stdout/stderr (not a TTY) for in-process runs of runCli. */
export function captureIo(env: NodeJS.ProcessEnv = {}): CapturedIo {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const stderr = new PassThrough();
  stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const handlers = new Set<() => void>();
  return {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: { NO_COLOR: '1', ...env },
    onInterrupt(fn) {
      handlers.add(fn);
      return () => handlers.delete(fn);
    },
    out: () => out,
    err: () => err,
    interrupt: () => {
      for (const fn of [...handlers]) fn();
    },
  };
}
