import { describe, expect, it } from 'vitest';
import { sensor } from '../testing/fixtures.js';
import {
  applyKey,
  filterRows,
  INITIAL_VIEW,
  type KeyPress,
  naturalCompare,
  NO_FILTERS,
  sortRows,
  splitKeys,
  toRows,
  type ViewState,
  type Visible,
  windowStart,
} from './fleet-model.js';

const noKey = {
  upArrow: false,
  downArrow: false,
  pageUp: false,
  pageDown: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  backspace: false,
  delete: false,
  ctrl: false,
  meta: false,
};

const fleet = [
  sensor({ serial: 'sim-0-10', kind: 'vibration', lastDataAt: '2026-01-01T00:00:05Z' }),
  sensor({ serial: 'sim-0-2', kind: 'process', reportedState: 'ASLEEP', lastDataAt: '2026-01-01T00:00:09Z' }),
  sensor({ serial: 'sim-0-1', kind: 'vibration', online: false, labels: { site: 'south' } }),
  sensor({ serial: 'sim-1-0', kind: 'environment' }),
];
const rows = toRows(
  fleet,
  new Map([
    ['sim-0-1', 2],
    ['sim-1-0', 5],
  ]),
);
const serials = (rs: ReturnType<typeof toRows>) => rs.map((r) => r.sensor.serial);

describe('sorting', () => {
  it('orders serials naturally: sim-0-2 before sim-0-10', () => {
    expect(naturalCompare('sim-0-2', 'sim-0-10')).toBeLessThan(0);
    expect(serials(sortRows(rows, 'serial', false))).toEqual(['sim-0-1', 'sim-0-2', 'sim-0-10', 'sim-1-0']);
    expect(serials(sortRows(rows, 'serial', true))).toEqual(['sim-1-0', 'sim-0-10', 'sim-0-2', 'sim-0-1']);
  });

  it('sorts by kind, state, last data (newest first) and alarms (most first), ties by serial', () => {
    expect(serials(sortRows(rows, 'kind', false))).toEqual(['sim-1-0', 'sim-0-2', 'sim-0-1', 'sim-0-10']);
    expect(serials(sortRows(rows, 'state', false))).toEqual(['sim-0-10', 'sim-1-0', 'sim-0-2', 'sim-0-1']);
    expect(serials(sortRows(rows, 'data', false)).slice(0, 2)).toEqual(['sim-0-2', 'sim-0-10']);
    expect(serials(sortRows(rows, 'alarms', false)).slice(0, 2)).toEqual(['sim-1-0', 'sim-0-1']);
  });
});

describe('filtering', () => {
  it('by kind, effective state, label and a search over serial, kind and labels', () => {
    expect(serials(filterRows(rows, { ...NO_FILTERS, kind: 'vibration' }))).toEqual(['sim-0-10', 'sim-0-1']);
    expect(serials(filterRows(rows, { ...NO_FILTERS, state: 'OFFLINE' }))).toEqual(['sim-0-1']);
    expect(serials(filterRows(rows, { ...NO_FILTERS, label: { key: 'site', value: 'south' } }))).toEqual([
      'sim-0-1',
    ]);
    expect(serials(filterRows(rows, { ...NO_FILTERS, search: 'PROC' }))).toEqual(['sim-0-2']);
    expect(serials(filterRows(rows, { ...NO_FILTERS, search: 'sim-1' }))).toEqual(['sim-1-0']);
  });
});

describe('keys', () => {
  it('splits a burst ink hands over as one string into one key per character', () => {
    expect(splitKeys('jjj', noKey)).toEqual([{ input: 'j' }, { input: 'j' }, { input: 'j' }]);
    expect(splitKeys('50\r', noKey)).toEqual([{ input: '5' }, { input: '0' }, { input: '', enter: true }]);
    expect(splitKeys('', { ...noKey, downArrow: true })).toEqual([{ input: '', down: true }]);
    expect(splitKeys('d', { ...noKey, ctrl: true })).toEqual([{ input: '', pageDown: true }]);
  });

  const many = toRows(
    Array.from({ length: 100 }, (_, i) => sensor({ serial: `s-${i}` })),
    new Map(),
  );
  const visible: Visible = { rows: sortRows(many, 'serial', false), kinds: ['vibration'], pageSize: 10 };
  const press = (state: ViewState, keys: KeyPress[]) => {
    let s = state;
    for (const k of keys) s = applyKey(s, k, visible).state;
    return s;
  };

  it('twenty j move twenty rows; pages, home and end move as far as they say and stop at the ends', () => {
    const j = { input: 'j' };
    expect(press(INITIAL_VIEW, Array(20).fill(j)).selected).toBe('s-20');
    expect(press(INITIAL_VIEW, [{ input: '', pageDown: true }]).selected).toBe('s-9');
    expect(press(INITIAL_VIEW, [{ input: '', end: true }]).selected).toBe('s-99');
    expect(
      press(INITIAL_VIEW, [{ input: 'G' }, { input: 'j' }, { input: '', pageDown: true }]).selected,
    ).toBe('s-99');
    expect(press(INITIAL_VIEW, [{ input: 'G' }, { input: 'g' }, { input: 'k' }]).selected).toBe('s-0');
  });

  it('o cycles the sort key, / searches as you type, Esc restores, c clears', () => {
    expect(press(INITIAL_VIEW, [{ input: 'o' }]).sort).toBe('kind');
    const searching = press(INITIAL_VIEW, [{ input: '/' }, { input: 's' }, { input: '-' }, { input: '4' }]);
    expect(searching.filters.search).toBe('s-4');
    expect(press(searching, [{ input: '', enter: true }]).filters.search).toBe('s-4');
    expect(press(searching, [{ input: '', escape: true }]).filters.search).toBe('');
    expect(press(searching, [{ input: '', enter: true }, { input: 'c' }]).filters).toEqual(NO_FILTERS);
  });

  it('s, a and f act on the selected sensor; q quits', () => {
    const at3 = press(INITIAL_VIEW, [{ input: 'j' }, { input: 'j' }, { input: 'j' }]);
    expect(applyKey(at3, { input: 's' }, visible).effect).toEqual({ kind: 'sleep', serial: 's-3' });
    const typed = press(at3, [{ input: 'f' }, { input: '2' }, { input: 'x' }, { input: '5' }]);
    expect(typed.prompt).toEqual({ kind: 'frequency', text: '25', error: null });
    expect(applyKey(typed, { input: '', enter: true }, visible).effect).toEqual({
      kind: 'frequency',
      serial: 's-3',
      text: '25',
    });
    expect(applyKey(INITIAL_VIEW, { input: 'q' }, visible).effect).toEqual({ kind: 'quit' });
  });

  it('keeps the selection in the middle of the window when it can', () => {
    expect(windowStart(0, 100, 10)).toBe(0);
    expect(windowStart(50, 100, 10)).toBe(45);
    expect(windowStart(99, 100, 10)).toBe(90);
    expect(windowStart(3, 2, 10)).toBe(0);
  });
});
