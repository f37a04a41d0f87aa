import { describe, expect, it } from 'vitest';
import { AlarmRpcError, parseAlarmRequest } from './alarm-rpc.js';

const req = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('parseAlarmRequest', () => {
  it('accepts list, ack and transitions requests', () => {
    expect(
      parseAlarmRequest(
        req({ method: 'alarms.list', params: { active: true, severity: 'MAJOR', limit: 5 } }),
      ),
    ).toEqual({
      method: 'alarms.list',
      params: { active: true, severity: 'MAJOR', limit: 5 },
    });
    expect(parseAlarmRequest(req({ method: 'alarms.list' }))).toEqual({ method: 'alarms.list', params: {} });
    expect(
      parseAlarmRequest(
        req({
          method: 'alarms.ack',
          params: { alarmId: 'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE', by: 'iotctl:alice' },
        }),
      ),
    ).toEqual({
      method: 'alarms.ack',
      params: { alarmId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', by: 'iotctl:alice' },
    });
    expect(
      parseAlarmRequest(req({ method: 'alarms.transitions', params: { afterId: 10, serial: 'S-1' } })),
    ).toEqual({
      method: 'alarms.transitions',
      params: { afterId: 10, serial: 'S-1' },
    });
  });

  it.each([
    ['{', 'body: is not valid JSON'],
    [JSON.stringify({ method: 'alarms.delete' }), 'method: unknown method "alarms.delete"'],
    [
      JSON.stringify({ method: 'alarms.list', params: { severity: 'HIGH' } }),
      'params.severity: must be one of',
    ],
    [JSON.stringify({ method: 'alarms.list', params: { serial: 'a.b' } }), 'params.serial:'],
    [
      JSON.stringify({ method: 'alarms.list', params: { limit: 0 } }),
      'params.limit: must be an integer from 1',
    ],
    [
      JSON.stringify({ method: 'alarms.ack', params: { alarmId: '42', by: 'x' } }),
      'params.alarmId: must be an alarm id',
    ],
    [
      JSON.stringify({ method: 'alarms.ack', params: { alarmId: '6f1c1d5e-2b1a-4c3d-9e8f-0a1b2c3d4e5f' } }),
      'params.by:',
    ],
  ])('rejects %s naming the field', (body, message) => {
    let err: unknown;
    try {
      parseAlarmRequest(Buffer.from(body));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AlarmRpcError);
    expect((err as AlarmRpcError).code).toBe('ALARM_BAD_REQUEST');
    expect((err as AlarmRpcError).message).toContain(message);
  });
});
