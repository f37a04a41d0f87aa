import { redactUrlsInText } from './redact-url.js';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'service', 'module', 'msg', 'err']);

export interface WritableLike {
  write(chunk: string): unknown;
}

function formatValue(v: unknown): string {
  return typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
}

/** Formats one pino JSON line for humans: `12:00:01.123 INFO  [svc/module] message key=value`. */
export function formatPrettyLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof rec.level === 'number' ? rec.level : 30;
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const name = LEVEL_NAMES[level] ?? String(level);
  const lvl = color ? `\x1b[${LEVEL_COLORS[level] ?? '0'}m${name}\x1b[0m` : name;
  const where = [rec.service, rec.module].filter((x) => typeof x === 'string').join('/');
  const fields = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
  let out = `${time} ${lvl} [${where}] ${String(rec.msg ?? '')}${fields ? ` ${fields}` : ''}`;
  const err = rec.err as { stack?: unknown; message?: unknown } | undefined;
  if (err && typeof err === 'object') {
    out += `\n    ${String(err.stack ?? err.message ?? JSON.stringify(err)).replace(/\n/g, '\n    ')}`;
  }
  return `${out}\n`;
}

/** A tiny pino destination that pretty-prints each JSON line (used only when stdout is a TTY). */
export function createPrettyStream(out: WritableLike, color = true): WritableLike {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line !== '') out.write(redactUrlsInText(formatPrettyLine(line, color)));
      }
      return true;
    },
  };
}
