import { describe, expect, it } from 'vitest';
import {
  ALARM_METHODS,
  alarmMethodPermission,
  assertAlarmId,
  parseAlarmRequest,
  parseSeverity,
  parseShelfDuration,
} from './alarm-rpc.js';
import { ControlError } from './control-error.js';

const body = (v: unknown) => Buffer.from(JSON.stringify(v));
const ID = '3f2b8c1e-7d4a-4e6b-9a1c-2b3c4d5e6f70';

describe('parseAlarmRequest', () => {
  it('accepts a filtered alarms.list and defaults missing params', () => {
    expect(
      parseAlarmRequest(
        body({
          method: 'alarms.list',
          params: { active: true, serial: 'sim-0-1', severity: 'MAJOR', limit: 5 },
        }),
      ),
    ).toEqual({
      method: 'alarms.list',
      params: { active: true, serial: 'sim-0-1', severity: 'MAJOR', limit: 5 },
    });
    expect(parseAlarmRequest(body({ method: 'alarms.list' }))).toEqual({ method: 'alarms.list', params: {} });
  });

  it("accepts alarms.ack with a uuid and drops an older client's by (the actor is the broker user)", () => {
    expect(
      parseAlarmRequest(
        body({ method: 'alarms.ack', params: { alarmId: ID.toUpperCase(), by: 'op.operator' } }),
      ),
    ).toEqual({
      method: 'alarms.ack',
      params: { alarmId: ID },
    });
  });

  it('routes read-only methods to the read key and the others to the queue, each with its permission', () => {
    expect(alarmMethodPermission('alarms.ack')).toBe('alarms.ack');
    expect(alarmMethodPermission('alarms.shelve')).toBe('alarms.shelve');
    expect(alarmMethodPermission('alarms.unshelve')).toBe('alarms.shelve');
    expect(alarmMethodPermission('maintenance.start')).toBe('alarms.maintenance');
    expect(alarmMethodPermission('maintenance.end')).toBe('alarms.maintenance');
    for (const m of ALARM_METHODS.filter((x) => !/ack|shelve$|unshelve|maintenance\.(start|end)/.test(x)))
      expect(alarmMethodPermission(m), m).toBeUndefined();
  });

  it('accepts shelving, maintenance, stats and transitions requests', () => {
    expect(
      parseAlarmRequest(
        body({
          method: 'alarms.shelve',
          params: { alarmId: ID, reason: ' noisy ', forMs: 3600e3 },
        }),
      ),
    ).toEqual({
      method: 'alarms.shelve',
      params: { alarmId: ID, reason: 'noisy', forMs: 3600e3 },
    });
    expect(
      parseAlarmRequest(
        body({ method: 'maintenance.start', params: { serials: ['a', 'a', 'b'], by: 'x', forMs: 60_000 } }),
      ),
    ).toEqual({
      method: 'maintenance.start',
      params: { serials: ['a', 'b'], reason: '', forMs: 60_000 },
    });
    expect(parseAlarmRequest(body({ method: 'alarms.stats', params: { fromUs: 1, toUs: 2 } }))).toEqual({
      method: 'alarms.stats',
      params: { fromUs: 1, toUs: 2 },
    });
    expect(parseAlarmRequest(body({ method: 'alarms.transitions', params: { afterId: 7 } }))).toEqual({
      method: 'alarms.transitions',
      params: { afterId: 7 },
    });
  });

  it.each([
    [
      body({ method: 'alarms.shelve', params: { alarmId: ID, by: 'x', reason: '', forMs: 60_000 } }),
      'params.reason',
    ],
    [
      body({ method: 'alarms.shelve', params: { alarmId: ID, by: 'x', reason: 'r', forMs: 10 } }),
      'params.forMs',
    ],
    [
      body({ method: 'alarms.shelve', params: { alarmId: ID, by: 'x', reason: 'r', forMs: 8 * 86_400e3 } }),
      'params.forMs',
    ],
    [
      body({ method: 'maintenance.start', params: { serials: [], by: 'x', forMs: 60_000 } }),
      'params.serials',
    ],
    [body({ method: 'maintenance.end', params: { serials: ['a.b'], by: 'x' } }), 'params.serials[0]'],
    [body({ method: 'alarms.stats', params: { fromUs: 5, toUs: 5 } }), 'params.toUs'],
    [Buffer.from('{'), 'not valid JSON'],
    [body('x'), 'must be a JSON object'],
    [body({ method: 'alarms.delete' }), 'unknown method'],
    [body({ method: 'alarms.list', params: { active: 'yes' } }), 'params.active'],
    [body({ method: 'alarms.list', params: { serial: 'a.b' } }), 'params.serial'],
    [body({ method: 'alarms.list', params: { severity: 'LOUD' } }), 'params.severity'],
    [body({ method: 'alarms.list', params: { limit: 0 } }), 'params.limit'],
    [body({ method: 'alarms.ack', params: { alarmId: 'nope', by: 'x' } }), 'params.alarmId'],
    [body({ method: 'alarms.list', params: { rule: '../x' } }), 'params.rule'],
    [body({ method: 'alarms.list', params: { sinceUs: -1 } }), 'params.sinceUs'],
  ])('rejects bad request %#, naming the field', (buf, fragment) => {
    expect(() => parseAlarmRequest(buf)).toThrow(ControlError);
    expect(() => parseAlarmRequest(buf)).toThrow(fragment);
  });
});

describe('operator input', () => {
  it('parses shelf durations from 1 s to 7 days', () => {
    expect(parseShelfDuration('1h')).toBe(3600e3);
    expect(parseShelfDuration('30m')).toBe(1800e3);
    expect(parseShelfDuration('2d')).toBe(2 * 86_400e3);
    expect(() => parseShelfDuration('8d')).toThrow('--for: must be a duration from 1s to 7d');
    expect(() => parseShelfDuration('soon')).toThrow('--for');
    expect(() => parseShelfDuration('500ms')).toThrow('--for');
  });

  it('parses severities case-insensitively and alarm ids as uuids', () => {
    expect(parseSeverity('critical')).toBe('CRITICAL');
    expect(() => parseSeverity('loud', '--severity')).toThrow('--severity: must be one of');
    expect(assertAlarmId(ID)).toBe(ID);
    expect(() => assertAlarmId('123')).toThrow('alarmId: must be an alarm id');
  });
});
