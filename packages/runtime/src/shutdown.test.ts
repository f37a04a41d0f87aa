import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';
import { installShutdown, signalExitCode } from './shutdown.js';

class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  exit(code: number): void {
    this.exits.push(code);
  }
}

function setup(stop: () => Promise<void>, deadlineMs = 1000) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    service: 't',
    pretty: false,
    destination: { write: (c: string) => lines.push(JSON.parse(c) as Record<string, unknown>) },
  });
  const proc = new FakeProcess();
  const handle = installShutdown({ logger, deadlineMs, stop, process: proc });
  return { proc, handle, lines, msgs: () => lines.map((l) => l.msg) };
}

describe('installShutdown', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('maps signals to 128 + signal number', () => {
    expect(signalExitCode('SIGTERM')).toBe(143);
    expect(signalExitCode('SIGINT')).toBe(130);
  });

  it('runs stop() once on SIGTERM and exits 143', async () => {
    const stop = vi.fn(async () => {});
    const { proc, msgs } = setup(stop);
    proc.emit('SIGTERM');
    await vi.runAllTimersAsync();
    expect(stop).toHaveBeenCalledTimes(1);
    expect(proc.exits).toEqual([143]);
    expect(msgs()).toEqual(['shutting down', 'shutdown complete']);
  });

  it('exits 130 on SIGINT', async () => {
    const { proc } = setup(async () => {});
    proc.emit('SIGINT');
    await vi.runAllTimersAsync();
    expect(proc.exits).toEqual([130]);
  });

  it('forces exit on a second signal without running stop() again', async () => {
    const stop = vi.fn(() => new Promise<void>((resolve) => setTimeout(resolve, 500)));
    const { proc, msgs } = setup(stop);
    proc.emit('SIGTERM');
    await vi.advanceTimersByTimeAsync(10);
    proc.emit('SIGINT');
    expect(proc.exits).toEqual([130]);
    await vi.runAllTimersAsync();
    expect(stop).toHaveBeenCalledTimes(1);
    expect(proc.exits).toEqual([130]);
    expect(msgs()).toContain('second signal during shutdown, forcing exit');
  });

  it('exits 1 when stop() misses the deadline', async () => {
    const { proc, msgs } = setup(() => new Promise<void>(() => {}), 300);
    proc.emit('SIGTERM');
    await vi.advanceTimersByTimeAsync(299);
    expect(proc.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(proc.exits).toEqual([1]);
    expect(msgs()).toContain('shutdown deadline exceeded, exiting anyway');
  });

  it('exits 1 and logs the error when stop() throws', async () => {
    const { proc, lines } = setup(async () => {
      throw new Error('drain failed');
    });
    proc.emit('SIGTERM');
    await vi.runAllTimersAsync();
    expect(proc.exits).toEqual([1]);
    const failed = lines.find((l) => l.msg === 'shutdown failed');
    expect(failed?.err).toMatchObject({ message: 'drain failed' });
  });

  it('logs uncaught exceptions and unhandled rejections with their stack and exits 1', () => {
    const a = setup(async () => {});
    a.proc.emit('uncaughtException', new Error('kaboom'));
    expect(a.proc.exits).toEqual([1]);
    expect(a.lines[0]).toMatchObject({ level: 60, msg: 'uncaught exception' });
    expect(a.lines[0]?.err).toMatchObject({ stack: expect.stringContaining('kaboom') });

    const b = setup(async () => {});
    b.proc.emit('unhandledRejection', 'just a string');
    expect(b.proc.exits).toEqual([1]);
    expect(b.lines[0]?.err).toMatchObject({ message: 'non-error rejection: just a string' });
  });

  it('removes its listeners on uninstall()', () => {
    const { proc, handle } = setup(async () => {});
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    handle.uninstall();
    for (const e of ['SIGTERM', 'SIGINT', 'uncaughtException', 'unhandledRejection']) {
      expect(proc.listenerCount(e)).toBe(0);
    }
  });
});
