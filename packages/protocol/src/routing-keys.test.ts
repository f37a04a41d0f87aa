import { describe, expect, it } from 'vitest';
import { ProtocolError } from './protocol-error.js';
import {
  bindingPatterns,
  COMMAND_TYPES,
  type CommandType,
  commandBindingPattern,
  commandQueueName,
  parseRoutingKey,
  routingKeys,
} from './routing-keys.js';

const badSerials = ['', 'a.b', 'a#', 'a*', 'a b', 'ü', 'x'.repeat(65), 'a/b'];

describe('routingKeys', () => {
  it('builds every key of the design', () => {
    expect(routingKeys.data('s-1')).toBe('sensor.s-1.data');
    expect(routingKeys.logs('s-1')).toBe('sensor.s-1.logs');
    expect(routingKeys.state('s-1')).toBe('sensor.s-1.state');
    expect(routingKeys.acks('s-1')).toBe('sensor.s-1.acks');
    expect(routingKeys.command('s-1', 'sleep')).toBe('sensor.s-1.commands.sleep');
    expect(routingKeys.command('s-1', 'awake')).toBe('sensor.s-1.commands.awake');
    expect(routingKeys.command('s-1', 'changesamplefrequency')).toBe(
      'sensor.s-1.commands.changesamplefrequency',
    );
    expect(routingKeys.alarm('s-1', 'raised')).toBe('sensor.s-1.alarms.raised');
    expect(routingKeys.alarm('s-1', 'cleared')).toBe('sensor.s-1.alarms.cleared');
    expect(commandQueueName('s-1')).toBe('sensor.s-1.commands');
    expect(commandBindingPattern('s-1')).toBe('sensor.s-1.commands.*');
  });

  it('accepts a 64-character serial', () => {
    const serial = `${'A'.repeat(32)}${'_'.repeat(16)}${'9'.repeat(16)}`;
    expect(routingKeys.data(serial)).toBe(`sensor.${serial}.data`);
  });

  it.each(badSerials)('rejects the serial %j in every builder', (serial) => {
    const builders = [
      () => routingKeys.data(serial),
      () => routingKeys.logs(serial),
      () => routingKeys.state(serial),
      () => routingKeys.acks(serial),
      () => routingKeys.command(serial, 'sleep'),
      () => routingKeys.alarm(serial, 'raised'),
      () => commandQueueName(serial),
      () => commandBindingPattern(serial),
    ];
    for (const build of builders) {
      expect(build).toThrow(ProtocolError);
      try {
        build();
      } catch (err) {
        expect((err as ProtocolError).field).toBe('serial');
        expect((err as ProtocolError).permanent).toBe(true);
      }
    }
  });

  it('rejects an unknown command type or alarm transition from untyped callers', () => {
    expect(() => routingKeys.command('s', 'reboot' as CommandType)).toThrow(ProtocolError);
    expect(() => routingKeys.alarm('s', 'acknowledged' as 'raised')).toThrow(ProtocolError);
  });

  it('has the binding patterns of the design', () => {
    expect(bindingPatterns).toEqual({
      data: 'sensor.*.data',
      logs: 'sensor.*.logs',
      state: 'sensor.*.state',
      acks: 'sensor.*.acks',
      alarms: 'sensor.*.alarms.*',
      commands: 'sensor.*.commands.*',
    });
  });
});

describe('parseRoutingKey', () => {
  it('parses what the builders build', () => {
    expect(parseRoutingKey(routingKeys.data('a'))).toEqual({ kind: 'data', serial: 'a' });
    expect(parseRoutingKey(routingKeys.logs('a'))).toEqual({ kind: 'logs', serial: 'a' });
    expect(parseRoutingKey(routingKeys.state('a'))).toEqual({ kind: 'state', serial: 'a' });
    expect(parseRoutingKey(routingKeys.acks('a'))).toEqual({ kind: 'acks', serial: 'a' });
    for (const t of COMMAND_TYPES) {
      expect(parseRoutingKey(routingKeys.command('a', t))).toEqual({
        kind: 'command',
        serial: 'a',
        commandType: t,
      });
    }
    expect(parseRoutingKey(routingKeys.alarm('a', 'raised'))).toEqual({
      kind: 'alarm',
      serial: 'a',
      transition: 'raised',
    });
    expect(parseRoutingKey('sensor.a.alarms.cleared')).toEqual({
      kind: 'alarm',
      serial: 'a',
      transition: 'cleared',
    });
  });

  it.each([
    '',
    'sensor',
    'sensor.a',
    'sensors.a.data',
    'sensor..data',
    'sensor.a.b.data',
    'sensor.a.data.extra',
    'sensor.a.commands',
    'sensor.a.commands.reboot',
    'sensor.a.commands.*',
    'sensor.*.data',
    'sensor.#',
    'sensor.a.alarms.acknowledged',
    'sensor.a.metrics',
    `sensor.${'x'.repeat(65)}.data`,
    `sensor.a.${'x'.repeat(300)}`,
  ])('rejects %j with a ProtocolError', (key) => {
    expect(() => parseRoutingKey(key)).toThrow(ProtocolError);
  });

  it('names the serial when only the serial is wrong', () => {
    try {
      parseRoutingKey('sensor.bad*serial.data');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).field).toBe('routingKey.serial');
    }
  });
});
