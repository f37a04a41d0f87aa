import { constants } from 'node:os';
import type { Logger } from './logger.js';

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';

/** The parts of `process` the shutdown handler uses (injectable for tests). */
export interface ProcessLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  exit(code: number): void;
}

export interface ShutdownOptions {
  logger: Logger;
  /** stop() gets this long before the process exits anyway. Default 10 000 ms. */
  deadlineMs?: number;
  stop: () => Promise<void>;
  /** Default: the real `process`. */
  process?: ProcessLike;
}

export interface ShutdownHandle {
  /** Runs the same path as a signal (stop once, deadline, exit). */
  shutdown(signal?: ShutdownSignal): Promise<void>;
  /** Removes the listeners (tests). */
  uninstall(): void;
}

export function signalExitCode(signal: ShutdownSignal): number {
  return 128 + constants.signals[signal];
}

/**
 * One shutdown path: on SIGTERM/SIGINT run stop() once and exit 128+signal
 * (1 if stop() throws or misses the deadline); a second signal forces exit at
 * once. uncaughtException / unhandledRejection are logged with their stack
 * and exit 1.
 */
export function installShutdown(opts: ShutdownOptions): ShutdownHandle {
  const proc: ProcessLike = opts.process ?? process;
  const log = opts.logger;
  const deadlineMs = opts.deadlineMs ?? 10_000;
  let running: Promise<void> | undefined;
  let exited = false;

  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    proc.exit(code);
  };

  function shutdown(signal: ShutdownSignal = 'SIGTERM'): Promise<void> {
    if (running) {
      log.warn({ signal }, 'second signal during shutdown, forcing exit');
      exit(signalExitCode(signal));
      return running;
    }
    const code = signalExitCode(signal);
    log.info({ signal, deadlineMs }, 'shutting down');
    const started = Date.now();
    running = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        log.error({ signal, deadlineMs }, 'shutdown deadline exceeded, exiting anyway');
        exit(1);
        resolve();
      }, deadlineMs);
      Promise.resolve()
        .then(() => opts.stop())
        .then(
          () => {
            clearTimeout(timer);
            log.info({ signal, durationMs: Date.now() - started, exitCode: code }, 'shutdown complete');
            exit(code);
          },
          (err: unknown) => {
            clearTimeout(timer);
            log.error({ err, signal }, 'shutdown failed');
            exit(1);
          },
        )
        .finally(resolve);
    });
    return running;
  }

  const onSigterm = () => void shutdown('SIGTERM');
  const onSigint = () => void shutdown('SIGINT');
  const onUncaught = (err: unknown) => {
    log.fatal({ err }, 'uncaught exception');
    exit(1);
  };
  const onUnhandled = (reason: unknown) => {
    const err = reason instanceof Error ? reason : new Error(`non-error rejection: ${String(reason)}`);
    log.fatal({ err }, 'unhandled promise rejection');
    exit(1);
  };

  proc.on('SIGTERM', onSigterm);
  proc.on('SIGINT', onSigint);
  proc.on('uncaughtException', onUncaught);
  proc.on('unhandledRejection', onUnhandled);

  return {
    shutdown,
    uninstall() {
      proc.off('SIGTERM', onSigterm);
      proc.off('SIGINT', onSigint);
      proc.off('uncaughtException', onUncaught);
      proc.off('unhandledRejection', onUnhandled);
    },
  };
}
