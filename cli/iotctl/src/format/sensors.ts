import type { ChannelSeries, CommandRecord, SensorDetail, SensorSummary } from '@sensor-streaming/control';
import { sparkline } from './logs.js';
import { ago, type Column, hz, ms, renderTable, type Style, stateColor, statusColor } from './text.js';

export interface FleetCounts {
  total: number;
  awake: number;
  asleep: number;
  offline: number;
}

/**
 * A sensor that is not online counts as offline whatever it last reported; one that is online but never
 * reported a state (a device that only sends logs) is ONLINE.
 */
export function effectiveState(s: SensorSummary): 'AWAKE' | 'ASLEEP' | 'OFFLINE' | 'ONLINE' {
  if (!s.online || s.reportedState === 'OFFLINE') return 'OFFLINE';
  return s.reportedState ?? 'ONLINE';
}

/**
 * Desired versus reported: `-` when the sensor is where it was asked to be (or nothing was asked), else what
 * it should become (`ASLEEP`, `50 Hz`, both), marked `(pending)` while a command is on its way.
 */
export function desiredText(s: SensorSummary): string {
  const want: string[] = [];
  if (s.desiredState !== null && s.desiredState !== s.reportedState) want.push(s.desiredState);
  if (s.desiredFrequencyHz !== null && s.desiredFrequencyHz !== s.reportedFrequencyHz) {
    want.push(`${hz(s.desiredFrequencyHz)} Hz`);
  }
  if (want.length === 0) return (s.pendingCommands ?? 0) > 0 ? '(pending)' : '-';
  return `-> ${want.join(' ')}${(s.pendingCommands ?? 0) > 0 ? ' (pending)' : ''}`;
}

/** Samples/s the registry counted, when it counts them; else the nominal rate. */
export function samplesPerSecond(s: SensorSummary): number {
  return s.measuredSamplesPerSecond ?? s.samplesPerSecond;
}

export function countFleet(sensors: readonly SensorSummary[]): FleetCounts {
  const c: FleetCounts = { total: sensors.length, awake: 0, asleep: 0, offline: 0 };
  for (const s of sensors) {
    const st = effectiveState(s);
    if (st === 'AWAKE') c.awake++;
    else if (st === 'ASLEEP') c.asleep++;
    else if (st === 'OFFLINE') c.offline++;
  }
  return c;
}

export function formatCounts(c: FleetCounts): string {
  return `${c.total} sensors: ${c.awake} awake, ${c.asleep} asleep, ${c.offline} offline`;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

export function labels(l: Record<string, string>): string {
  const parts = Object.entries(l)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '-' : parts.join(',');
}

export function sensorColumns(nowMs: number): Column<SensorSummary>[] {
  return [
    { header: 'SERIAL', value: (s) => s.serial },
    { header: 'KIND', value: (s) => s.kind },
    {
      header: 'STATE',
      value: (s) => effectiveState(s),
      color: (s) => stateColor(s.reportedState, s.online),
    },
    {
      header: 'DESIRED',
      value: (s) => desiredText(s),
      color: (s) => (desiredText(s) === '-' ? undefined : 'yellow'),
    },
    { header: 'HZ', value: (s) => hz(s.reportedFrequencyHz), align: 'right' },
    { header: 'SAMPLES/S', value: (s) => hz(round1(samplesPerSecond(s))), align: 'right' },
    { header: 'LAST DATA', value: (s) => (s.lastDataAt == null ? '-' : ago(s.lastDataAt, nowMs)) },
    { header: 'LAST SEEN', value: (s) => ago(s.lastSeenAt, nowMs) },
    { header: 'LABELS', value: (s) => labels(s.labels) },
  ];
}

export function formatSensorTable(sensors: readonly SensorSummary[], style: Style, nowMs: number): string {
  if (sensors.length === 0) return 'no sensors match\n';
  return renderTable(sensors, sensorColumns(nowMs), style);
}

export function commandColumns(): Column<CommandRecord>[] {
  return [
    { header: 'ISSUED AT', value: (c) => c.issuedAt },
    { header: 'TYPE', value: (c) => c.type },
    { header: 'HZ', value: (c) => hz(c.sampleFrequencyHz), align: 'right' },
    { header: 'STATUS', value: (c) => c.status, color: (c) => statusColor(c.status) },
    { header: 'RTT', value: (c) => ms(c.rttMs), align: 'right' },
    { header: 'ISSUED BY', value: (c) => c.issuedBy },
    { header: 'COMMAND ID', value: (c) => c.commandId },
    { header: 'REASON', value: (c) => c.reason ?? '' },
  ];
}

export function formatCommandTable(commands: readonly CommandRecord[], style: Style): string {
  if (commands.length === 0) return 'no commands recorded\n';
  return renderTable(commands, commandColumns(), style);
}

export function formatSensorDetail(d: SensorDetail, style: Style, nowMs: number): string {
  const s = d.sensor;
  const loc = s.location === null ? '-' : `${s.location.lat.toFixed(5)}, ${s.location.lon.toFixed(5)}`;
  const range =
    s.minFrequencyHz === null || s.maxFrequencyHz === null
      ? '-'
      : `${hz(s.minFrequencyHz)}..${hz(s.maxFrequencyHz)} Hz`;
  const rows: Array<[string, string]> = [
    ['serial', s.serial],
    ['kind', s.kind],
    ['online', s.online ? 'yes' : 'no'],
    ['state', `${effectiveState(s)} (desired ${s.desiredState ?? '-'})`],
    ['frequency', `${hz(s.reportedFrequencyHz)} Hz (desired ${hz(s.desiredFrequencyHz)} Hz, range ${range})`],
    ['desired', desiredText(s)],
    [
      'samples/s',
      `${hz(round1(samplesPerSecond(s)))}${s.measuredSamplesPerSecond == null ? ' (nominal)' : ' (measured)'}`,
    ],
    ['last data', s.lastDataAt == null ? 'never' : `${s.lastDataAt} (${ago(s.lastDataAt, nowMs)})`],
    ['channels', s.channels.join(', ') || '-'],
    ['firmware', s.firmware || '-'],
    ['location', loc],
    ['labels', labels(s.labels)],
    ['last seen', s.lastSeenAt === null ? 'never' : `${s.lastSeenAt} (${ago(s.lastSeenAt, nowMs)})`],
    ['registered', s.registeredAt],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  return `${head}\n${formatSeries(d.series ?? [])}\nrecent commands:\n${formatCommandTable(d.commands, style)}`;
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** One sparkline per channel: the last minutes at a glance, with the range it spans. */
export function formatSeries(series: readonly ChannelSeries[]): string {
  if (series.length === 0) return '';
  const first = series[0]!;
  const minutes = (first.values.length * first.bucketSeconds) / 60;
  const width = Math.max(...series.map((s) => s.channel.length));
  const lines = series.map((s) => {
    const present = s.values.filter((v): v is number => v !== null);
    const range =
      present.length === 0
        ? 'no data'
        : `min ${fmt(Math.min(...present))}  max ${fmt(Math.max(...present))}  last ${fmt(present[present.length - 1]!)}`;
    return `  ${s.channel.padEnd(width)}  ${sparkline(s.values)}  ${range}`;
  });
  return `\nlast ${Number(minutes.toFixed(1))} min (${first.bucketSeconds} s averages, oldest left):\n${lines.join('\n')}\n`;
}
