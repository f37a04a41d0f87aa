import pino from 'pino';
import { createPrettyStream, type WritableLike } from './pretty-stream.js';
import { redactUrl, redactUrlsInText } from './redact-url.js';

export type Logger = pino.Logger;

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Human-readable lines instead of JSON. Default: only when stdout is a TTY. */
  pretty?: boolean;
  /** Where lines go (tests). Default: stdout, written synchronously so nothing is lost on exit. */
  destination?: WritableLike;
}

const SECRET_KEYS = ['password', 'passwd', 'authorization', 'token', 'secret', 'apiKey', 'cookie'];
const URL_KEYS = ['url', 'amqpUrl', 'databaseUrl', 'mqttUrl', 'connectionString'];

/** Redaction paths: secrets at the top level, one and two levels down, and in headers. */
function redactPaths(): string[] {
  const keys = [...SECRET_KEYS, ...URL_KEYS];
  return [
    ...keys,
    ...keys.map((k) => `*.${k}`),
    ...keys.map((k) => `*.*.${k}`),
    'headers["x-api-key"]',
    '*.headers["x-api-key"]',
  ];
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (URL_KEYS.includes(key)) return typeof value === 'string' ? redactUrl(value) : value;
  return '[REDACTED]';
}

/**
 * pino JSON logger: one line per event on stdout, `service` on every line,
 * errors under `err` (with stack), credentials redacted (password-like keys,
 * authorization headers, passwords inside URLs, also in the message text).
 * Make one child per module: `logger.child({ module: 'consumer' })`.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const base = opts.destination ?? pino.destination({ dest: 1, sync: true });
  const destination = pretty ? createPrettyStream(base, opts.destination === undefined) : base;
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service, pid: process.pid },
      errorKey: 'err',
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      redact: { paths: redactPaths(), censor },
      hooks: {
        logMethod(args, method) {
          const redacted = args.map((a) => (typeof a === 'string' ? redactUrlsInText(a) : a));
          method.apply(this, redacted as Parameters<typeof method>);
        },
      },
    },
    destination as pino.DestinationStream,
  );
}
