import type {
  AlarmRecord,
  CommandOutcome,
  CommandRequest,
  FleetHealth,
  SensorSummary,
} from '@sensor-streaming/control';
import { parseFrequency } from '@sensor-streaming/control';
import { Box, Text, useApp, useInput, useStdin } from 'ink';
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { countFleet, desiredText, formatCounts, labels, samplesPerSecond } from '../format/sensors.js';
import { ago, type ColorName, hz, ms, stateColor, statusColor } from '../format/text.js';
import {
  applyKey,
  type Effect,
  type FleetRow,
  filterRows,
  INITIAL_VIEW,
  type SortKey,
  sortRows,
  splitKeys,
  toRows,
  type ViewState,
  type Visible,
  windowStart,
} from './fleet-model.js';

export interface StatusViewProps {
  /** One fleet snapshot (the registry's sensors.list). */
  fetchSensors(): Promise<SensorSummary[]>;
  /** The open alarms (the alarm service's alarms.list, active only); optional: without it no ALARMS column. */
  fetchAlarms?(): Promise<AlarmRecord[]>;
  /** What the registry knows of the pipeline (newest stored sample and log entry); optional. */
  fetchHealth?(): Promise<FleetHealth>;
  /** Sends one command and resolves with its outcome (ack, timeout, ...). */
  sendCommand(serial: string, request: CommandRequest): Promise<CommandOutcome>;
  refreshMs: number;
  color: boolean;
  /** Sensor rows shown at once (the list scrolls with the selection; only these rows are rendered). */
  maxRows: number;
  /** Terminal width: rows are cut to it. */
  width?: number;
  nowMs?: () => number;
  /** Initial sort and filters (`iotctl status --sort alarms --kind vibration`). */
  initial?: Partial<ViewState>;
}

const INK_COLORS: Record<ColorName, string> = {
  red: 'red',
  green: 'green',
  yellow: 'yellow',
  blue: 'blue',
  magenta: 'magenta',
  cyan: 'cyan',
  gray: 'gray',
  bold: 'white',
};

function C(props: { on: boolean; color: ColorName | undefined; bold?: boolean; children: ReactNode }) {
  const { on, color, bold, children } = props;
  if (!on || color === undefined) return <Text bold={bold === true && on}>{children}</Text>;
  return (
    <Text color={INK_COLORS[color]} bold={bold === true}>
      {children}
    </Text>
  );
}

/** A stored sample older than this means its ingester is stopped or far behind. */
const STALE_MS = 30_000;

/** `samples 1s old` (green), `samples 2m old` (yellow: the ingester is behind or stopped), `no samples`. */
function Stored(props: { on: boolean; label: string; at: string | null; now: string }) {
  if (props.at === null) {
    return (
      <C on={props.on} color="gray">
        no {props.label}
      </C>
    );
  }
  const age = Date.parse(props.now) - Date.parse(props.at);
  return (
    <C on={props.on} color={age > STALE_MS ? 'yellow' : 'green'}>
      {props.label} {ago(props.at, Date.parse(props.now)).replace(' ago', ' old')}
    </C>
  );
}

interface Health {
  name: string;
  ok: boolean;
  ms: number | null;
  detail: string;
}

function checkFrequency(text: string): string | null {
  try {
    parseFrequency(text);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function describeOutcome(o: CommandOutcome): string {
  const rtt = o.rttMs === null ? '' : ` in ${ms(o.rttMs)}`;
  const reason = o.reason === '' ? '' : ` (${o.reason})`;
  return `${o.type} ${o.serial}: ${o.status}${rtt}${reason}`;
}

function rate(v: number): string {
  if (v >= 10_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return `${Math.round(v)}`;
}

const SORT_LABEL: Record<SortKey, string> = {
  serial: 'serial',
  kind: 'kind',
  state: 'state',
  data: 'last data',
  alarms: 'alarms',
};

async function timed<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: string; ms: number }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, ms: performance.now() - t0 };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), ms: performance.now() - t0 };
  }
}

interface Line {
  row: FleetRow;
  serial: string;
  kind: string;
  state: string;
  desired: string;
  hz: string;
  lastData: string;
  samples: string;
  alarms: string;
  labels: string;
}

/**
 * The fleet at a glance, refreshed every `refreshMs`: counts, open alarms, fleet samples/s and service health
 * in the header; one row per sensor (only the rows on screen are rendered, so 10,000 sensors cost what 40
 * do); keys sort, filter, search, page and command the selected sensor. Keys are applied one by one through
 * `applyKey`, so a burst typed faster than the screen refreshes loses none.
 */
export function StatusView(props: StatusViewProps) {
  const { fetchSensors, fetchAlarms, fetchHealth, sendCommand, refreshMs, color, maxRows } = props;
  const width = props.width ?? 200;
  const now = props.nowMs ?? Date.now;
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const [sensorList, setSensors] = useState<SensorSummary[] | null>(null);
  const [alarmInfo, setAlarmInfo] = useState<{ perSerial: Map<string, number>; open: number } | null>(null);
  const [health, setHealth] = useState<Record<string, Health>>({});
  const [pipeline, setPipeline] = useState<FleetHealth | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [view, setView] = useState<ViewState>({ ...INITIAL_VIEW, ...props.initial });
  const [last, setLast] = useState<{ text: string; color: ColorName | undefined } | null>(null);
  const alive = useRef(true);

  // the registry and the alarm service are polled independently: one that is slow or down (an RPC that
  // times out) never holds up the other
  useEffect(() => {
    alive.current = true;
    const timers = new Map<string, NodeJS.Timeout>();
    const poll = <T,>(
      name: string,
      fetch: () => Promise<T>,
      apply: (v: T) => void,
      fail: (e: string) => void,
    ) => {
      const loop = async (): Promise<void> => {
        const r = await timed(fetch);
        if (!alive.current) return;
        setHealth((h) => ({
          ...h,
          [name]: { name, ok: r.error === undefined, ms: r.ms, detail: r.error ?? '' },
        }));
        if (r.error === undefined) apply(r.value as T);
        else fail(r.error);
        timers.set(
          name,
          setTimeout(() => void loop(), refreshMs),
        );
      };
      void loop();
    };
    poll(
      'registry',
      fetchSensors,
      (list) => {
        setSensors(list);
        setLoadError(null);
      },
      setLoadError,
    );
    if (fetchAlarms !== undefined) {
      poll(
        'alarm-service',
        fetchAlarms,
        (list) => {
          const perSerial = new Map<string, number>();
          let open = 0;
          for (const a of list) {
            if (!a.active) continue;
            open++;
            perSerial.set(a.serial, (perSerial.get(a.serial) ?? 0) + 1);
          }
          setAlarmInfo({ perSerial, open });
        },
        () => setAlarmInfo(null),
      );
    }
    if (fetchHealth !== undefined) poll('pipeline', fetchHealth, setPipeline, () => setPipeline(null));
    return () => {
      alive.current = false;
      for (const t of timers.values()) clearTimeout(t);
    };
  }, [fetchSensors, fetchAlarms, fetchHealth, refreshMs]);

  const send = useCallback(
    (serial: string, request: CommandRequest) => {
      setLast({ text: `${request.type} ${serial}: sending...`, color: undefined });
      sendCommand(serial, request).then(
        (o) => alive.current && setLast({ text: describeOutcome(o), color: statusColor(o.status) }),
        (err: unknown) =>
          alive.current &&
          setLast({
            text: `${request.type} ${serial}: failed: ${err instanceof Error ? err.message : String(err)}`,
            color: 'red',
          }),
      );
    },
    [sendCommand],
  );

  // rows, sorted and filtered: recomputed when the snapshot, the sort or the filters change, not per key
  const allRows = useMemo(
    () => (sensorList === null ? [] : toRows(sensorList, alarmInfo?.perSerial ?? new Map())),
    [sensorList, alarmInfo],
  );
  const kinds = useMemo(() => [...new Set(allRows.map((r) => r.sensor.kind))].sort(), [allRows]);
  const sorted = useMemo(
    () => sortRows(allRows, view.sort, view.reverse),
    [allRows, view.sort, view.reverse],
  );
  const rows = useMemo(() => filterRows(sorted, view.filters), [sorted, view.filters]);
  const pageSize = Math.max(1, maxRows);

  // The input handler works on this ref, not on the render's closure: several keys can arrive between two
  // renders (ink hands a typed burst over as one string), and each must see the state the previous one left.
  const live = useRef<{ state: ViewState; visible: Visible; sorted: FleetRow[]; allRows: FleetRow[] }>({
    state: view,
    visible: { rows, kinds, pageSize, checkFrequency },
    sorted,
    allRows,
  });
  live.current.visible = { rows, kinds, pageSize, checkFrequency };
  live.current.sorted = sorted;
  live.current.allRows = allRows;

  const run = useCallback(
    (effect: Effect) => {
      if (effect.kind === 'quit') exit();
      else if (effect.kind === 'sleep') send(effect.serial, { type: 'sleep' });
      else if (effect.kind === 'awake') send(effect.serial, { type: 'awake' });
      else {
        try {
          send(effect.serial, {
            type: 'changesamplefrequency',
            sampleFrequencyHz: parseFrequency(effect.text),
          });
        } catch (err) {
          setLast({ text: `frequency: ${err instanceof Error ? err.message : String(err)}`, color: 'red' });
        }
      }
    },
    [exit, send],
  );

  useInput(
    (input, key) => {
      const l = live.current;
      for (const k of splitKeys(input, key)) {
        const before = l.state;
        const r = applyKey(before, k, l.visible);
        l.state = r.state;
        let resorted = false;
        if (r.state.sort !== before.sort || r.state.reverse !== before.reverse) {
          l.sorted = sortRows(l.allRows, r.state.sort, r.state.reverse);
          resorted = true;
        }
        if (resorted || r.state.filters !== before.filters) {
          l.visible = { ...l.visible, rows: filterRows(l.sorted, r.state.filters) };
        }
        if (r.effect !== undefined) run(r.effect);
      }
      setView(l.state);
    },
    { isActive: isRawModeSupported },
  );

  const nowMs = now();
  const found = view.selected === null ? -1 : rows.findIndex((r) => r.sensor.serial === view.selected);
  const index = found === -1 ? 0 : found;
  const first = windowStart(index, rows.length, pageSize);
  const showAlarms = alarmInfo !== null;
  const lines: Line[] = rows.slice(first, first + pageSize).map((r) => {
    const s = r.sensor;
    return {
      row: r,
      serial: s.serial,
      kind: s.kind,
      state: r.state,
      desired: desiredText(s),
      hz: hz(s.reportedFrequencyHz),
      lastData: s.lastDataAt == null ? '-' : ago(s.lastDataAt, nowMs),
      samples: rate(samplesPerSecond(s)),
      alarms: showAlarms ? (r.alarms === 0 ? '-' : String(r.alarms)) : '',
      labels: labels(s.labels),
    };
  });
  const head: Omit<Line, 'row'> = {
    serial: 'SERIAL',
    kind: 'KIND',
    state: 'STATE',
    desired: 'DESIRED',
    hz: 'HZ',
    lastData: 'LAST DATA',
    samples: 'SAMPLES/S',
    alarms: showAlarms ? 'ALARMS' : '',
    labels: 'LABELS',
  };
  const w = (k: keyof Omit<Line, 'row'>): number =>
    Math.max(head[k].length, ...lines.map((l) => l[k].length));
  const W = {
    serial: w('serial'),
    kind: w('kind'),
    state: w('state'),
    desired: w('desired'),
    hz: w('hz'),
    lastData: w('lastData'),
    samples: w('samples'),
    alarms: w('alarms'),
  };
  const left = (l: Omit<Line, 'row'>) => `${l.serial.padEnd(W.serial)}  ${l.kind.padEnd(W.kind)}  `;
  const right = (l: Omit<Line, 'row'>) =>
    `  ${l.desired.padEnd(W.desired)}  ${l.hz.padStart(W.hz)}  ${l.lastData.padEnd(W.lastData)}  ${l.samples.padStart(W.samples)}${showAlarms ? `  ${l.alarms.padStart(W.alarms)}` : ''}  ${l.labels}`;

  // fleet totals change with a snapshot, not with a key
  const { counts, measured, fleetRate } = useMemo(() => {
    const list = sensorList ?? [];
    return {
      counts: countFleet(list),
      measured: list.some((s) => s.measuredSamplesPerSecond != null),
      fleetRate: list.reduce((sum, s) => sum + samplesPerSecond(s), 0),
    };
  }, [sensorList]);
  const f = view.filters;
  const filterText = [
    f.kind === null ? null : `kind=${f.kind}`,
    f.state === null ? null : `state=${f.state.toLowerCase()}`,
    f.label === null ? null : `${f.label.key}=${f.label.value}`,
    f.search === '' ? null : `/${f.search}`,
  ].filter((x) => x !== null);
  const p = view.prompt;

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <C on={color} color="bold" bold>
          iotctl status
        </C>
        {'  '}
        {sensorList === null ? 'loading...' : formatCounts(counts)}
        {alarmInfo !== null && (
          <>
            {' · '}
            <C on={color} color={alarmInfo.open > 0 ? 'red' : 'green'}>
              {alarmInfo.open} open alarm{alarmInfo.open === 1 ? '' : 's'}
            </C>
          </>
        )}
        {sensorList !== null && ` · ${rate(fleetRate)} samples/s${measured ? '' : ' (nominal)'}`}
      </Text>
      <Text wrap="truncate-end">
        {'services: '}
        {['registry', 'alarm-service'].flatMap((name, i) => {
          const h = health[name];
          return h === undefined
            ? []
            : [
                <Text key={h.name}>
                  {i > 0 ? ', ' : ''}
                  {h.name}{' '}
                  <C on={color} color={h.ok ? 'green' : 'red'}>
                    {h.ok ? 'ok' : 'DOWN'}
                  </C>
                  {h.ok && h.ms !== null ? ` ${Math.round(h.ms)} ms` : ''}
                </Text>,
              ];
        })}
        {pipeline !== null && (
          <>
            {', ingest: '}
            <Stored on={color} label="samples" at={pipeline.newestMeasurementAt} now={pipeline.now} />
            {', '}
            <Stored on={color} label="logs" at={pipeline.newestLogAt} now={pipeline.now} />
          </>
        )}
        {'   sort: '}
        {SORT_LABEL[view.sort]}
        {view.reverse ? ' (reversed)' : ''}
        {'   filter: '}
        {filterText.length === 0 ? 'none' : filterText.join(' ')}
      </Text>
      {loadError !== null && (
        <C on={color} color="red">
          registry: {loadError}
        </C>
      )}
      <Text bold={color} wrap="truncate-end">
        {'  '}
        {left(head)}
        {head.state.padEnd(W.state)}
        {right(head)}
      </Text>
      {lines.map((l) => {
        const isSel = l.row === rows[index];
        const s = l.row.sensor;
        return (
          <Text key={l.serial} wrap="truncate-end">
            <Text inverse={isSel && color}>
              {isSel ? '>' : ' '} {left(l)}
            </Text>
            <C on={color} color={stateColor(s.reportedState, s.online)}>
              {l.state.padEnd(W.state)}
            </C>
            <C on={color} color={l.desired === '-' ? undefined : 'yellow'}>
              {right(l)}
            </C>
          </Text>
        );
      })}
      {sensorList !== null && rows.length === 0 && (
        <Text>
          {'  '}
          {allRows.length === 0
            ? 'the registry knows no sensors yet'
            : 'no sensor matches the filter (c clears it)'}
        </Text>
      )}
      <Text>
        {'  '}
        {rows.length === 0 ? '' : `${first + 1}-${first + lines.length} of ${rows.length}`}
        {rows.length !== allRows.length ? ` (${allRows.length} in the fleet)` : ''}
      </Text>
      {p === null ? (
        <Text dimColor={color} wrap="truncate-end">
          keys: j/k up/down, PgUp/PgDn, g/G home/end, o sort, O reverse, / search, K kind, S state, L label, c
          clear, s sleep, a awake, f frequency, q quit
        </Text>
      ) : p.kind === 'frequency' ? (
        <Text>
          new sample frequency for {view.selected ?? '?'} (Hz, Enter to send, Esc to cancel): {p.text}
          {p.error === null ? '' : `  ${p.error}`}
        </Text>
      ) : p.kind === 'search' ? (
        <Text>/{p.text} (Enter keeps the filter, Esc drops it)</Text>
      ) : (
        <Text>
          label filter key=value (empty clears, Enter applies, Esc cancels): {p.text}
          {p.error === null ? '' : `  ${p.error}`}
        </Text>
      )}
      <C on={color} color={last?.color}>
        last command: {last === null ? 'none' : last.text}
      </C>
    </Box>
  );
}
