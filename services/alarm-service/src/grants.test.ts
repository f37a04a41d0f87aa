import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_RPC_GRANTS, parseAlarmGrants } from './grants.js';

describe('ALARM_RPC_GRANTS', () => {
  it('grants each permission to the users listed, a trailing * matching a prefix', () => {
    const g = parseAlarmGrants('alarms.ack=op.operator, op.shift-*; alarms.shelve=op.operator');
    expect(g.allows('op.operator', 'alarms.ack')).toBe(true);
    expect(g.allows('op.shift-night', 'alarms.ack')).toBe(true);
    expect(g.allows('op.shift-night', 'alarms.shelve')).toBe(false);
    expect(g.allows('op.viewer', 'alarms.ack')).toBe(false);
    // a permission left out is held by nobody
    expect(g.allows('op.operator', 'alarms.maintenance')).toBe(false);
    expect(g.holders('alarms.ack')).toEqual(['op.operator', 'op.shift-*']);
  });

  it('does not read a user name as a pattern (only a trailing * is one)', () => {
    const g = parseAlarmGrants('alarms.ack=op.operator');
    expect(g.allows('op.operatorX', 'alarms.ack')).toBe(false);
    expect(g.allows('op_operator', 'alarms.ack')).toBe(false);
  });

  it('keeps guest working by default (local development) and op.operator', () => {
    const g = parseAlarmGrants(DEFAULT_ALARM_RPC_GRANTS);
    for (const p of ['alarms.ack', 'alarms.shelve', 'alarms.maintenance'] as const) {
      expect(g.allows('guest', p)).toBe(true);
      expect(g.allows('op.operator', p)).toBe(true);
      expect(g.allows('op.viewer', p)).toBe(false);
    }
  });

  it('names every problem at once', () => {
    expect(() =>
      parseAlarmGrants('alarms.ack;alarms.delete=x;alarms.shelve=bad name,*;alarms.shelve=y'),
    ).toThrow(
      /entry 1 "alarms.ack" has no '='.*unknown permission "alarms.delete".*"bad name" is not a user name.*"\*" is not.*given twice/,
    );
  });
});
