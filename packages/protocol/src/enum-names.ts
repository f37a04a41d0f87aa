import type {
  AckStatus,
  AlarmSeverity,
  AlarmTransition,
  LogLevel,
  PowerState,
  StateReason,
} from './domain-types.js';
import type { CommandType } from './routing-keys.js';

// Wire enum names (sensor.proto) -> domain string unions. Value 0
// (*_UNSPECIFIED) is deliberately absent: it is never a valid required value.

export const LOG_LEVEL_BY_WIRE: Readonly<Record<string, LogLevel>> = {
  LOG_LEVEL_DEBUG: 'DEBUG',
  LOG_LEVEL_INFO: 'INFO',
  LOG_LEVEL_WARN: 'WARN',
  LOG_LEVEL_ERROR: 'ERROR',
};

export const POWER_STATE_BY_WIRE: Readonly<Record<string, PowerState>> = {
  SENSOR_POWER_STATE_AWAKE: 'AWAKE',
  SENSOR_POWER_STATE_ASLEEP: 'ASLEEP',
  SENSOR_POWER_STATE_OFFLINE: 'OFFLINE',
};

export const STATE_REASON_BY_WIRE: Readonly<Record<string, StateReason>> = {
  STATE_REASON_BIRTH: 'BIRTH',
  STATE_REASON_HEARTBEAT: 'HEARTBEAT',
  STATE_REASON_CHANGE: 'CHANGE',
  STATE_REASON_WILL: 'WILL',
};

export const COMMAND_TYPE_BY_WIRE: Readonly<Record<string, CommandType>> = {
  COMMAND_TYPE_SLEEP: 'sleep',
  COMMAND_TYPE_AWAKE: 'awake',
  COMMAND_TYPE_CHANGE_SAMPLE_FREQUENCY: 'changesamplefrequency',
};

export const ACK_STATUS_BY_WIRE: Readonly<Record<string, AckStatus>> = {
  ACK_STATUS_APPLIED: 'APPLIED',
  ACK_STATUS_REJECTED: 'REJECTED',
  ACK_STATUS_EXPIRED: 'EXPIRED',
};

export const ALARM_SEVERITY_BY_WIRE: Readonly<Record<string, AlarmSeverity>> = {
  ALARM_SEVERITY_INFO: 'INFO',
  ALARM_SEVERITY_WARNING: 'WARNING',
  ALARM_SEVERITY_MAJOR: 'MAJOR',
  ALARM_SEVERITY_CRITICAL: 'CRITICAL',
};

export const ALARM_TRANSITION_BY_WIRE: Readonly<Record<string, AlarmTransition>> = {
  ALARM_TRANSITION_RAISED: 'RAISED',
  ALARM_TRANSITION_CLEARED: 'CLEARED',
  ALARM_TRANSITION_ACKNOWLEDGED: 'ACKNOWLEDGED',
};

/** Domain value -> wire enum name; `undefined` maps to the *_UNSPECIFIED value (0). */
export function toWireEnum<T extends string>(
  byWire: Readonly<Record<string, T>>,
  value: T | undefined,
): string | 0 {
  if (value === undefined) return 0;
  for (const [wireName, domain] of Object.entries(byWire)) if (domain === value) return wireName;
  // Unknown domain value (untyped caller): keep it so validation names the field.
  return value;
}
