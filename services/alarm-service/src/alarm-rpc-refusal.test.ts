import { ALARM_RPC_QUEUE, ALARM_RPC_READ_KEY } from '@sensor-streaming/control';
import { describe, expect, it } from 'vitest';
import { alarmRpcRefusal } from './alarm-rpc.js';
import { parseAlarmGrants } from './grants.js';

const grants = parseAlarmGrants('alarms.ack=op.operator;alarms.shelve=op.operator');
const on = (routingKey: string, userId?: string) => ({
  routingKey,
  ...(userId === undefined ? {} : { userId }),
});

describe('alarmRpcRefusal (who may change alarms)', () => {
  it('lets a granted user change alarms on the queue key', () => {
    expect(alarmRpcRefusal('alarms.ack', on(ALARM_RPC_QUEUE, 'op.operator'), grants)).toBeUndefined();
    expect(alarmRpcRefusal('alarms.unshelve', on(ALARM_RPC_QUEUE, 'op.operator'), grants)).toBeUndefined();
  });

  it('refuses a user without the permission, naming the user and the permission', () => {
    expect(alarmRpcRefusal('alarms.ack', on(ALARM_RPC_QUEUE, 'op.nightshift'), grants)).toEqual({
      code: 'ALARM_FORBIDDEN',
      message: 'user op.nightshift lacks the permission alarms.ack (needed for alarms.ack)',
    });
    // op.operator holds ack and shelve here, not maintenance
    expect(alarmRpcRefusal('maintenance.start', on(ALARM_RPC_QUEUE, 'op.operator'), grants)?.message).toBe(
      'user op.operator lacks the permission alarms.maintenance (needed for maintenance.start)',
    );
  });

  it('refuses a request with no broker-validated user_id', () => {
    expect(alarmRpcRefusal('alarms.ack', on(ALARM_RPC_QUEUE), grants)?.message).toMatch(
      /no broker-validated user_id/,
    );
  });

  it('refuses a changing method sent on the read-only key, even from a granted user', () => {
    expect(alarmRpcRefusal('alarms.ack', on(ALARM_RPC_READ_KEY, 'op.operator'), grants)?.code).toBe(
      'ALARM_FORBIDDEN',
    );
  });

  it('never refuses a read-only method, on either key, with or without a user', () => {
    for (const key of [ALARM_RPC_QUEUE, ALARM_RPC_READ_KEY]) {
      expect(alarmRpcRefusal('alarms.list', on(key), grants)).toBeUndefined();
      expect(alarmRpcRefusal('rules.test', on(key, 'op.viewer'), grants)).toBeUndefined();
    }
  });
});
