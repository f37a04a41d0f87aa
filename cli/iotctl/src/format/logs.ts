import type { LogRecord } from '@sensor-streaming/control';
import type { LogEntry } from '@sensor-streaming/protocol';
import { type ColorName, paint, type Style } from './text.js';

const LEVEL_COLOR: Record<string, ColorName | undefined> = {
  DEBUG: 'gray',
  INFO: undefined,
  WARN: 'yellow',
  ERROR: 'red',
};

/** `2026-12-02T00:41:03.123Z  sim-0-1  WARN   C001_ABORTED  pump: message` */
export function formatLogLine(r: LogRecord, serialWidth: number, style: Style): string {
  const code = r.errorCode === '' ? '' : `${r.errorCode}  `;
  const component = r.component === '' ? '' : `${r.component}: `;
  return `${r.time}  ${r.serial.padEnd(serialWidth)}  ${paint(style, LEVEL_COLOR[r.level], r.level.padEnd(5))}  ${code}${component}${r.message}\n`;
}

/** A streamed LogBatch entry in the stored record's shape. */
export function logRecordOf(serial: string, e: LogEntry): LogRecord {
  return {
    serial,
    time: new Date(Math.floor(e.timeUs / 1000)).toISOString(),
    level: e.level,
    errorCode: e.errorCode,
    component: e.component,
    message: e.message,
    appVersion: e.appVersion,
    firmwareVersion: e.firmwareVersion,
  };
}

const BARS = '▁▂▃▄▅▆▇█';

/** One character per value, scaled between the smallest and the largest; a space where there is no value. */
export function sparkline(values: ReadonlyArray<number | null>): string {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return ' '.repeat(values.length);
  const min = Math.min(...present);
  const max = Math.max(...present);
  const span = max - min;
  return values
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      const i = span === 0 ? 3 : Math.round(((v - min) / span) * (BARS.length - 1));
      return BARS[i];
    })
    .join('');
}
