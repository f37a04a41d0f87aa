import { ProtocolError } from './protocol-error.js';
import { assertSerial } from './serial.js';

export type CommandType = 'sleep' | 'awake' | 'changesamplefrequency';
export const COMMAND_TYPES: readonly CommandType[] = ['sleep', 'awake', 'changesamplefrequency'];

export type AlarmRoutingTransition = 'raised' | 'cleared';
export const ALARM_ROUTING_TRANSITIONS: readonly AlarmRoutingTransition[] = ['raised', 'cleared'];

export function isCommandType(s: unknown): s is CommandType {
  return typeof s === 'string' && (COMMAND_TYPES as readonly string[]).includes(s);
}

function assertCommandType(t: unknown, field: string): CommandType {
  if (!isCommandType(t)) throw new ProtocolError(field, `must be one of ${COMMAND_TYPES.join(', ')}`);
  return t;
}

function assertAlarmTransition(t: unknown, field: string): AlarmRoutingTransition {
  if (t !== 'raised' && t !== 'cleared') throw new ProtocolError(field, 'must be raised or cleared');
  return t;
}

/** Builders for every routing key on the exchange; each validates the serial. */
export const routingKeys = {
  data: (serial: string): string => `sensor.${assertSerial(serial)}.data`,
  logs: (serial: string): string => `sensor.${assertSerial(serial)}.logs`,
  state: (serial: string): string => `sensor.${assertSerial(serial)}.state`,
  command: (serial: string, type: CommandType): string =>
    `sensor.${assertSerial(serial)}.commands.${assertCommandType(type, 'type')}`,
  acks: (serial: string): string => `sensor.${assertSerial(serial)}.acks`,
  alarm: (serial: string, t: AlarmRoutingTransition): string =>
    `sensor.${assertSerial(serial)}.alarms.${assertAlarmTransition(t, 'transition')}`,
} as const;

/** Binding patterns used by the consuming services. */
export const bindingPatterns = {
  data: 'sensor.*.data',
  logs: 'sensor.*.logs',
  state: 'sensor.*.state',
  acks: 'sensor.*.acks',
  alarms: 'sensor.*.alarms.*',
  commands: 'sensor.*.commands.*',
} as const;

/** The per-sensor command queue, `sensor.<serial>.commands`. */
export function commandQueueName(serial: string): string {
  return `sensor.${assertSerial(serial)}.commands`;
}

/** What the per-sensor command queue is bound to, `sensor.<serial>.commands.*`. */
export function commandBindingPattern(serial: string): string {
  return `sensor.${assertSerial(serial)}.commands.*`;
}

export type ParsedRoutingKey =
  | { kind: 'data' | 'logs' | 'state' | 'acks'; serial: string }
  | { kind: 'command'; serial: string; commandType: CommandType }
  | { kind: 'alarm'; serial: string; transition: AlarmRoutingTransition };

const MAX_ROUTING_KEY_LENGTH = 255;

/** Parses any routing key built by {@link routingKeys}; throws {@link ProtocolError} otherwise. */
export function parseRoutingKey(key: string): ParsedRoutingKey {
  const field = 'routingKey';
  if (typeof key !== 'string') throw new ProtocolError(field, 'must be a string');
  if (key.length > MAX_ROUTING_KEY_LENGTH) throw new ProtocolError(field, 'is longer than 255 characters');
  const words = key.split('.');
  if (words[0] !== 'sensor')
    throw new ProtocolError(field, `must start with "sensor.": ${JSON.stringify(key)}`);
  const serial = assertSerial(words[1], `${field}.serial`);
  const [, , w2, w3, ...extra] = words;
  if (extra.length === 0) {
    if (w3 === undefined) {
      if (w2 === 'data' || w2 === 'logs' || w2 === 'state' || w2 === 'acks') return { kind: w2, serial };
    } else if (w2 === 'commands' && isCommandType(w3)) {
      return { kind: 'command', serial, commandType: w3 };
    } else if (w2 === 'alarms' && (w3 === 'raised' || w3 === 'cleared')) {
      return { kind: 'alarm', serial, transition: w3 };
    }
  }
  throw new ProtocolError(field, `unknown routing key ${JSON.stringify(key)}`);
}
