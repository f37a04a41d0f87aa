import type { SensorSummary } from '@sensor-streaming/control';
import { effectiveState } from '../format/sensors.js';

/*
 * What the live view shows, as plain data and pure functions (no React): sorting, filtering, paging and the
 * key handling, so that a burst of keys is applied one key at a time, in order, and the whole thing is cheap
 * enough for 10,000 sensors (sort keys computed once per snapshot, only the visible rows rendered).
 */

export const SORT_KEYS = ['serial', 'kind', 'state', 'data', 'alarms'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export const STATE_FILTERS = ['AWAKE', 'ASLEEP', 'OFFLINE'] as const;
export type StateFilter = (typeof STATE_FILTERS)[number];

export interface Filters {
  kind: string | null;
  state: StateFilter | null;
  /** `key=value` on the labels (`kind=...` matches the kind too). */
  label: { key: string; value: string } | null;
  /** Case-insensitive substring of the serial, kind or labels (`/`). */
  search: string;
}

export const NO_FILTERS: Filters = { kind: null, state: null, label: null, search: '' };

export interface FleetRow {
  sensor: SensorSummary;
  state: string;
  alarms: number;
  /** Natural-order key of the serial: digit runs zero-padded, so `sim-0-2` < `sim-0-10` as plain strings. */
  serialKey: string;
  lastDataMs: number;
  /** Lower-cased text `/` searches in. */
  haystack: string;
}

/** `sim-0-10` -> `sim-000000000000-000000000010`: plain comparison of such keys is natural order. */
export function naturalKey(s: string): string {
  return s.replace(/\d+/g, (d) => (d.length >= 12 ? d : d.padStart(12, '0')));
}

export function naturalCompare(a: string, b: string): number {
  const ka = naturalKey(a);
  const kb = naturalKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function toRows(sensors: readonly SensorSummary[], alarms: ReadonlyMap<string, number>): FleetRow[] {
  return sensors.map((s) => {
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const lastData = s.lastDataAt == null ? Number.NaN : Date.parse(s.lastDataAt);
    return {
      sensor: s,
      state: effectiveState(s),
      alarms: alarms.get(s.serial) ?? 0,
      serialKey: naturalKey(s.serial),
      lastDataMs: Number.isNaN(lastData) ? -1 : lastData,
      haystack: `${s.serial} ${s.kind} ${labels}`.toLowerCase(),
    };
  });
}

const STATE_ORDER: Record<string, number> = { AWAKE: 0, ONLINE: 1, ASLEEP: 2, UNKNOWN: 3, OFFLINE: 4 };

function bySerial(a: FleetRow, b: FleetRow): number {
  return a.serialKey < b.serialKey ? -1 : a.serialKey > b.serialKey ? 1 : 0;
}

/**
 * Sorted copy. Every key breaks ties by serial (natural order); `data` and `alarms` put the most recent /
 * the most first, as an operator wants them, and `reverse` turns any order around.
 */
export function sortRows(rows: readonly FleetRow[], key: SortKey, reverse: boolean): FleetRow[] {
  const primary: (a: FleetRow, b: FleetRow) => number =
    key === 'kind'
      ? (a, b) => (a.sensor.kind < b.sensor.kind ? -1 : a.sensor.kind > b.sensor.kind ? 1 : 0)
      : key === 'state'
        ? (a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9)
        : key === 'data'
          ? (a, b) => b.lastDataMs - a.lastDataMs
          : key === 'alarms'
            ? (a, b) => b.alarms - a.alarms
            : () => 0;
  const out = [...rows].sort((a, b) => primary(a, b) || bySerial(a, b));
  if (reverse) out.reverse();
  return out;
}

export function filterRows(rows: readonly FleetRow[], f: Filters): FleetRow[] {
  if (f.kind === null && f.state === null && f.label === null && f.search === '') return [...rows];
  const needle = f.search.toLowerCase();
  return rows.filter((r) => {
    if (f.kind !== null && r.sensor.kind !== f.kind) return false;
    if (f.state !== null && r.state !== f.state) return false;
    if (f.label !== null) {
      const { key, value } = f.label;
      const v = r.sensor.labels[key] ?? (key === 'kind' ? r.sensor.kind : undefined);
      if (v !== value) return false;
    }
    if (needle !== '' && !r.haystack.includes(needle)) return false;
    return true;
  });
}

/** The first row of the window that keeps `index` visible, the selection near the middle when possible. */
export function windowStart(index: number, total: number, size: number): number {
  return Math.max(0, Math.min(index - Math.floor(size / 2), total - size));
}

// ---------------------------------------------------------------------------------------------------------
// Keys

/** One key, as the view handles it (ink delivers a burst of typed characters as one string). */
export interface KeyPress {
  input: string;
  up?: boolean;
  down?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  enter?: boolean;
  escape?: boolean;
  backspace?: boolean;
}

interface InkKey {
  upArrow: boolean;
  downArrow: boolean;
  pageUp: boolean;
  pageDown: boolean;
  home?: boolean;
  end?: boolean;
  return: boolean;
  escape: boolean;
  backspace: boolean;
  delete: boolean;
  ctrl: boolean;
  meta: boolean;
}

/**
 * Splits what ink reports into single keys. ink hands a run of typed characters (`jjj` typed fast, or pasted)
 * to useInput as ONE input string: taking it as one key loses all but none of them (issue 12: `jjj` moved
 * the selection 0 rows). Special keys (arrows, page keys, Enter, Esc) arrive as their own events.
 */
export function splitKeys(input: string, key: InkKey): KeyPress[] {
  if (key.upArrow) return [{ input: '', up: true }];
  if (key.downArrow) return [{ input: '', down: true }];
  if (key.pageUp) return [{ input: '', pageUp: true }];
  if (key.pageDown) return [{ input: '', pageDown: true }];
  if (key.home === true) return [{ input: '', home: true }];
  if (key.end === true) return [{ input: '', end: true }];
  if (key.escape) return [{ input: '', escape: true }];
  if (key.ctrl) {
    // Ctrl-D / Ctrl-U: half a page down / up, as in less and vim
    if (input === 'd') return [{ input: '', pageDown: true }];
    if (input === 'u') return [{ input: '', pageUp: true }];
    return [];
  }
  if (key.return && input.length <= 1) return [{ input: '', enter: true }];
  if ((key.backspace || key.delete) && input.length <= 1) return [{ input: '', backspace: true }];
  const keys: KeyPress[] = [];
  for (const ch of input) {
    if (ch === '\r' || ch === '\n') keys.push({ input: '', enter: true });
    else if (ch === '\u007f' || ch === '\b') keys.push({ input: '', backspace: true });
    else if (ch === '\u001b') keys.push({ input: '', escape: true });
    else if (ch >= ' ') keys.push({ input: ch });
  }
  return keys;
}

export type Prompt =
  | { kind: 'frequency'; text: string; error: string | null }
  | { kind: 'search'; text: string; previous: string }
  | { kind: 'label'; text: string; error: string | null };

export interface ViewState {
  selected: string | null;
  sort: SortKey;
  reverse: boolean;
  filters: Filters;
  prompt: Prompt | null;
}

export const INITIAL_VIEW: ViewState = {
  selected: null,
  sort: 'serial',
  reverse: false,
  filters: NO_FILTERS,
  prompt: null,
};

/** What a key asks of the outside world, besides the new view state. */
export type Effect =
  | { kind: 'quit' }
  | { kind: 'sleep'; serial: string }
  | { kind: 'awake'; serial: string }
  | { kind: 'frequency'; serial: string; text: string };

export interface Visible {
  /** The rows after filter and sort, in display order. */
  rows: readonly FleetRow[];
  /** Kinds present in the fleet (for cycling the kind filter). */
  kinds: readonly string[];
  pageSize: number;
  /** The error of a typed frequency (the prompt stays open with it), null when it is fine. */
  checkFrequency?: (text: string) => string | null;
}

function cycle<T>(values: readonly T[], current: T | null): T | null {
  if (current === null) return values[0] ?? null;
  const i = values.indexOf(current);
  return i === -1 || i === values.length - 1 ? null : (values[i + 1] ?? null);
}

/**
 * Applies one key. Pure: returns the next state and, for commands and quitting, the effect to run. `view`
 * is what is on screen for the current state (the selection moves within it).
 */
export function applyKey(
  state: ViewState,
  key: KeyPress,
  view: Visible,
): { state: ViewState; effect?: Effect } {
  const p = state.prompt;
  if (p !== null) {
    if (key.escape) {
      if (p.kind === 'search') {
        return { state: { ...state, prompt: null, filters: { ...state.filters, search: p.previous } } };
      }
      return { state: { ...state, prompt: null } };
    }
    if (key.enter) {
      if (p.kind === 'search') return { state: { ...state, prompt: null } };
      if (p.kind === 'label') {
        const text = p.text.trim();
        if (text === '')
          return { state: { ...state, prompt: null, filters: { ...state.filters, label: null } } };
        const eq = text.indexOf('=');
        if (eq <= 0)
          return { state: { ...state, prompt: { ...p, error: 'type key=value, e.g. site=north' } } };
        const label = { key: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim() };
        return { state: { ...state, prompt: null, filters: { ...state.filters, label } } };
      }
      const serial = state.selected;
      if (serial === null) return { state: { ...state, prompt: null } };
      const error = view.checkFrequency?.(p.text) ?? null;
      if (error !== null) return { state: { ...state, prompt: { ...p, error } } };
      return { state: { ...state, prompt: null }, effect: { kind: 'frequency', serial, text: p.text } };
    }
    const text = key.backspace ? p.text.slice(0, -1) : p.text + key.input;
    if (p.kind === 'frequency') {
      if (!key.backspace && !/^[0-9.]$/.test(key.input)) return { state };
      return { state: { ...state, prompt: { ...p, text, error: null } } };
    }
    if (p.kind === 'search') {
      // filters as you type
      return { state: { ...state, prompt: { ...p, text }, filters: { ...state.filters, search: text } } };
    }
    return { state: { ...state, prompt: { ...p, text, error: null } } };
  }

  const rows = view.rows;
  const found = state.selected === null ? -1 : rows.findIndex((r) => r.sensor.serial === state.selected);
  const pos = found === -1 ? 0 : found;
  const select = (i: number): ViewState => {
    const r = rows[Math.max(0, Math.min(rows.length - 1, i))];
    return { ...state, selected: r === undefined ? state.selected : r.sensor.serial };
  };
  const page = Math.max(1, view.pageSize - 1);
  const current = rows[pos]?.sensor.serial;

  if (key.up || key.input === 'k') return { state: select(pos - 1) };
  if (key.down || key.input === 'j') return { state: select(pos + 1) };
  if (key.pageUp) return { state: select(pos - page) };
  if (key.pageDown || key.input === ' ') return { state: select(pos + page) };
  if (key.home || key.input === 'g') return { state: select(0) };
  if (key.end || key.input === 'G') return { state: select(rows.length - 1) };
  switch (key.input) {
    case 'q':
      return { state, effect: { kind: 'quit' } };
    case 'o':
      return { state: { ...state, sort: cycle(SORT_KEYS, state.sort) ?? SORT_KEYS[0] } };
    case 'O':
      return { state: { ...state, reverse: !state.reverse } };
    case 'K':
      return {
        state: { ...state, filters: { ...state.filters, kind: cycle(view.kinds, state.filters.kind) } },
      };
    case 'S':
      return {
        state: { ...state, filters: { ...state.filters, state: cycle(STATE_FILTERS, state.filters.state) } },
      };
    case 'L':
      return { state: { ...state, prompt: { kind: 'label', text: '', error: null } } };
    case '/':
      return {
        state: {
          ...state,
          prompt: { kind: 'search', text: state.filters.search, previous: state.filters.search },
        },
      };
    case 'c':
      return { state: { ...state, filters: NO_FILTERS } };
    case 's':
      return current === undefined ? { state } : { state, effect: { kind: 'sleep', serial: current } };
    case 'a':
      return current === undefined ? { state } : { state, effect: { kind: 'awake', serial: current } };
    case 'f':
      return current === undefined
        ? { state }
        : { state: { ...state, selected: current, prompt: { kind: 'frequency', text: '', error: null } } };
    default:
      return { state };
  }
}
