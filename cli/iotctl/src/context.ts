import type { Io } from './io.js';
import type { Session, SessionOptions } from './session.js';
import type { Style } from './format/text.js';

/** What every action gets: where to write, how to style, how to reach the platform. */
export interface Context {
  io: Io;
  style: Style;
  /** A hint of the tool for a command's issuedBy; never the recorded author (see ISSUED_BY_HINT). */
  issuedBy: string;
  session: Omit<SessionOptions, 'log'> & { log?: SessionOptions['log'] };
  /** Connects (bounded); `publishTimeoutMs` overrides how long a publish may wait for its confirm. */
  connect(opts?: { publishTimeoutMs?: number }): Promise<Session>;
  nowMs(): number;
}

export function out(ctx: Context, text: string): void {
  ctx.io.stdout.write(text);
}

export function err(ctx: Context, text: string): void {
  ctx.io.stderr.write(text);
}

/**
 * Runs `fn` with a connected session and always closes it, so the process can exit. A connection lost on the
 * way fails the command at once (CliError IOTCTL_BROKER_LOST), whatever `fn` was waiting for.
 */
export async function withSession<T>(
  ctx: Context,
  opts: { publishTimeoutMs?: number },
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  const session = await ctx.connect(opts);
  try {
    return await Promise.race([fn(session), session.lost]);
  } finally {
    await session.close();
  }
}
