import type { CommandOutcome, CommandRequest, SensorSummary } from '@sensor-streaming/control';
import { parseFrequency } from '@sensor-streaming/control';
import { Box, Text, useApp, useInput, useStdin } from 'ink';
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { countFleet, effectiveState, formatCounts } from '../format/sensors.js';
import { ago, type ColorName, hz, ms, stateColor, statusColor } from '../format/text.js';

export interface StatusViewProps {
  /** One fleet snapshot (the registry's sensors.list). */
  fetchSensors(): Promise<SensorSummary[]>;
  /** Sends one command and resolves with its outcome (ack, timeout, ...). */
  sendCommand(serial: string, request: CommandRequest): Promise<CommandOutcome>;
  refreshMs: number;
  color: boolean;
  /** Sensor rows shown at once (the list scrolls with the selection). */
  maxRows: number;
  nowMs?: () => number;
}

type Mode = { kind: 'browse' } | { kind: 'frequency'; text: string; error: string | null };

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

function Colored(props: { on: boolean; color: ColorName | undefined; bold?: boolean; children: ReactNode }) {
  const { on, color, bold, children } = props;
  if (!on || color === undefined) return <Text bold={bold === true}>{children}</Text>;
  return (
    <Text color={INK_COLORS[color]} bold={bold === true}>
      {children}
    </Text>
  );
}

interface Row {
  serial: string;
  kind: string;
  state: string;
  stateColor: ColorName | undefined;
  hz: string;
  lastSeen: string;
  samples: string;
}

const HEADERS: Row = {
  serial: 'SERIAL',
  kind: 'KIND',
  state: 'STATE',
  stateColor: undefined,
  hz: 'HZ',
  lastSeen: 'LAST SEEN',
  samples: 'SAMPLES/S',
};

function toRow(s: SensorSummary, nowMs: number): Row {
  return {
    serial: s.serial,
    kind: s.kind,
    state: effectiveState(s),
    stateColor: stateColor(s.reportedState, s.online),
    hz: hz(s.reportedFrequencyHz),
    lastSeen: ago(s.lastSeenAt, nowMs),
    samples: hz(s.samplesPerSecond),
  };
}

function describeOutcome(o: CommandOutcome): string {
  const rtt = o.rttMs === null ? '' : ` in ${ms(o.rttMs)}`;
  const reason = o.status === 'APPLIED' ? '' : ` (${o.reason})`;
  return `${o.type} ${o.serial}: ${o.status}${rtt}${reason}`;
}

/** The fleet at a glance, refreshed every `refreshMs`; keys select a sensor and command it. */
export function StatusView(props: StatusViewProps) {
  const { fetchSensors, sendCommand, refreshMs, color, maxRows } = props;
  const now = props.nowMs ?? Date.now;
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const [sensors, setSensors] = useState<SensorSummary[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [mode, setMode] = useState<Mode>({ kind: 'browse' });
  const [last, setLast] = useState<{ text: string; color: ColorName | undefined } | null>(null);
  const alive = useRef(true);

  useEffect(() => {
    alive.current = true;
    let timer: NodeJS.Timeout | undefined;
    const load = async (): Promise<void> => {
      try {
        const list = await fetchSensors();
        if (!alive.current) return;
        setSensors(list);
        setLoadError(null);
      } catch (err) {
        if (alive.current) setLoadError(err instanceof Error ? err.message : String(err));
      } finally {
        if (alive.current) timer = setTimeout(() => void load(), refreshMs);
      }
    };
    void load();
    return () => {
      alive.current = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [fetchSensors, refreshMs]);

  const list = sensors ?? [];
  const found = selected === null ? -1 : list.findIndex((s) => s.serial === selected);
  const index = found === -1 ? 0 : found;
  const current = list[index];

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

  // The input handler reads and writes this ref, not the render's closure: keys can arrive before React
  // has re-subscribed the handler of the latest render (and several keys between two renders).
  const live = useRef<{ list: SensorSummary[]; selected: string | null; mode: Mode }>({
    list: [],
    selected: null,
    mode: { kind: 'browse' },
  });
  live.current.list = list;

  useInput(
    (input, key) => {
      const state = live.current;
      const pos = Math.max(
        0,
        state.list.findIndex((s) => s.serial === state.selected),
      );
      const target = state.list[pos];
      const setModeNow = (m: Mode): void => {
        state.mode = m;
        setMode(m);
      };
      const select = (i: number): void => {
        const serial = state.list[Math.max(0, Math.min(state.list.length - 1, i))]?.serial ?? null;
        state.selected = serial;
        setSelected(serial);
      };
      const m = state.mode;
      if (m.kind === 'frequency') {
        if (key.escape) setModeNow({ kind: 'browse' });
        else if (key.return) {
          if (target === undefined) return setModeNow({ kind: 'browse' });
          try {
            const hzValue = parseFrequency(m.text);
            setModeNow({ kind: 'browse' });
            send(target.serial, { type: 'changesamplefrequency', sampleFrequencyHz: hzValue });
          } catch (err) {
            setModeNow({ ...m, error: err instanceof Error ? err.message : String(err) });
          }
        } else if (key.backspace || key.delete) setModeNow({ ...m, text: m.text.slice(0, -1), error: null });
        else if (/^[0-9.]+$/.test(input)) setModeNow({ ...m, text: m.text + input, error: null });
        return;
      }
      if (input === 'q') {
        exit();
        return;
      }
      if (target === undefined) return;
      if (key.upArrow || input === 'k') select(pos - 1);
      else if (key.downArrow || input === 'j') select(pos + 1);
      else if (input === 's') send(target.serial, { type: 'sleep' });
      else if (input === 'a') send(target.serial, { type: 'awake' });
      else if (input === 'f') setModeNow({ kind: 'frequency', text: '', error: null });
    },
    { isActive: isRawModeSupported },
  );

  const nowMs = now();
  const rows = list.map((s) => toRow(s, nowMs));
  const first = Math.max(0, Math.min(index - Math.floor(maxRows / 2), rows.length - maxRows));
  const visible = rows.slice(first, first + maxRows);
  const width = (k: keyof Omit<Row, 'stateColor'>): number =>
    Math.max(HEADERS[k].length, ...visible.map((r) => r[k].length));
  const w = {
    serial: width('serial'),
    kind: width('kind'),
    state: width('state'),
    hz: width('hz'),
    lastSeen: width('lastSeen'),
    samples: width('samples'),
  };
  const counts = countFleet(list);

  return (
    <Box flexDirection="column">
      <Box>
        <Colored on={color} color="bold" bold>
          iotctl status
        </Colored>
        <Text>
          {'  '}
          {sensors === null ? 'loading...' : formatCounts(counts)}
        </Text>
      </Box>
      {loadError !== null && (
        <Colored on={color} color="red">
          registry: {loadError}
        </Colored>
      )}
      <Text bold={color}>
        {'  '}
        {HEADERS.serial.padEnd(w.serial)}
        {'  '}
        {HEADERS.kind.padEnd(w.kind)}
        {'  '}
        {HEADERS.state.padEnd(w.state)}
        {'  '}
        {HEADERS.hz.padStart(w.hz)}
        {'  '}
        {HEADERS.lastSeen.padEnd(w.lastSeen)}
        {'  '}
        {HEADERS.samples.padStart(w.samples)}
      </Text>
      {visible.map((r) => {
        const isSel = current !== undefined && r.serial === current.serial;
        return (
          <Box key={r.serial}>
            <Text inverse={isSel && color}>
              {isSel ? '>' : ' '} {r.serial.padEnd(w.serial)}
              {'  '}
              {r.kind.padEnd(w.kind)}
              {'  '}
            </Text>
            <Colored on={color} color={r.stateColor}>
              {r.state.padEnd(w.state)}
            </Colored>
            <Text>
              {'  '}
              {r.hz.padStart(w.hz)}
              {'  '}
              {r.lastSeen.padEnd(w.lastSeen)}
              {'  '}
              {r.samples.padStart(w.samples)}
            </Text>
          </Box>
        );
      })}
      {rows.length > visible.length && (
        <Text>
          {'  '}({first + 1}-{first + visible.length} of {rows.length})
        </Text>
      )}
      {mode.kind === 'frequency' ? (
        <Text>
          new sample frequency for {current?.serial ?? '?'} (Hz, Enter to send, Esc to cancel): {mode.text}
          {mode.error === null ? '' : `  ${mode.error}`}
        </Text>
      ) : (
        <Text dimColor={color}>keys: up/down or j/k select, s sleep, a awake, f frequency, q quit</Text>
      )}
      <Colored on={color} color={last?.color}>
        last command: {last === null ? 'none' : last.text}
      </Colored>
    </Box>
  );
}
