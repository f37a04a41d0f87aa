import { describe, expect, it } from 'vitest';
import { assertAlarmId, parseAlarmRequest, parseSeverity } from './alarm-rpc.js';
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

  it('accepts alarms.ack with a uuid and an issuer', () => {
    expect(
      parseAlarmRequest(
        body({ method: 'alarms.ack', params: { alarmId: ID.toUpperCase(), by: 'iotctl:bob' } }),
      ),
    ).toEqual({
      method: 'alarms.ack',
      params: { alarmId: ID, by: 'iotctl:bob' },
    });
  });

  it.each([
    [Buffer.from('{'), 'not valid JSON'],
    [body('x'), 'must be a JSON object'],
    [body({ method: 'alarms.delete' }), 'unknown method'],
    [body({ method: 'alarms.list', params: { active: 'yes' } }), 'params.active'],
    [body({ method: 'alarms.list', params: { serial: 'a.b' } }), 'params.serial'],
    [body({ method: 'alarms.list', params: { severity: 'LOUD' } }), 'params.severity'],
    [body({ method: 'alarms.list', params: { limit: 0 } }), 'params.limit'],
    [body({ method: 'alarms.ack', params: { alarmId: 'nope', by: 'x' } }), 'params.alarmId'],
    [body({ method: 'alarms.ack', params: { alarmId: ID, by: ' ' } }), 'params.by'],
    [body({ method: 'alarms.ack', params: { alarmId: ID, by: 'iotctl:bob smith' } }), 'params.by'],
    [body({ method: 'alarms.list', params: { rule: '../x' } }), 'params.rule'],
    [body({ method: 'alarms.list', params: { sinceUs: -1 } }), 'params.sinceUs'],
  ])('rejects bad request %#, naming the field', (buf, fragment) => {
    expect(() => parseAlarmRequest(buf)).toThrow(ControlError);
    expect(() => parseAlarmRequest(buf)).toThrow(fragment);
  });
});

describe('operator input', () => {
  it('parses severities case-insensitively and alarm ids as uuids', () => {
    expect(parseSeverity('critical')).toBe('CRITICAL');
    expect(() => parseSeverity('loud', '--severity')).toThrow('--severity: must be one of');
    expect(assertAlarmId(ID)).toBe(ID);
    expect(() => assertAlarmId('123')).toThrow('alarmId: must be an alarm id');
  });
});
