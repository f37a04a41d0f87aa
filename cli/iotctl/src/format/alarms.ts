import type { AlarmRecord } from '@sensor-streaming/control';
import type { Alarm } from '@sensor-streaming/protocol';
import { ago, type Column, paint, renderTable, type Style, severityColor } from './text.js';

function num(v: number | null): string {
  return v === null ? '-' : `${Number(v.toPrecision(6))}`;
}

export function alarmColumns(nowMs: number): Column<AlarmRecord>[] {
  return [
    { header: 'ALARM ID', value: (a) => a.alarmId },
    { header: 'SERIAL', value: (a) => a.serial },
    { header: 'RULE', value: (a) => a.rule },
    { header: 'SEVERITY', value: (a) => a.severity, color: (a) => severityColor(a.severity) },
    {
      header: 'STATE',
      value: (a) => (a.active ? 'ACTIVE' : 'CLEARED'),
      color: (a) => (a.active ? 'red' : 'gray'),
    },
    { header: 'ACK', value: (a) => a.acknowledgedBy ?? '-' },
    { header: 'RAISED', value: (a) => ago(a.raisedAt, nowMs) },
    { header: 'VALUE/LIMIT', value: (a) => `${num(a.value)}/${num(a.threshold)}` },
    { header: 'MESSAGE', value: (a) => a.message },
  ];
}

export function formatAlarmTable(alarms: readonly AlarmRecord[], style: Style, nowMs: number): string {
  if (alarms.length === 0) return 'no alarms match\n';
  return renderTable(alarms, alarmColumns(nowMs), style);
}

/** One streamed transition (`iotctl alarms --follow`). */
export function formatAlarmEvent(a: Alarm, style: Style): string {
  const time = new Date(Math.floor(a.timeUs / 1000)).toISOString();
  const transition = paint(style, a.transition === 'RAISED' ? 'red' : 'green', a.transition.padEnd(12));
  const severity = paint(style, severityColor(a.severity), a.severity.padEnd(8));
  const channel = a.channel === '' ? '' : `/${a.channel}`;
  return `${time}  ${transition}  ${severity}  ${a.serial}${channel}  ${a.rule}  value ${num(a.value)} limit ${num(a.threshold)}  ${a.alarmId}${a.message === '' ? '' : `  ${a.message}`}\n`;
}
