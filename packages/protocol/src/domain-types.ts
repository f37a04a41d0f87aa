import type { CommandType } from './routing-keys.js';

// Decoded, validated messages as the platform uses them. Times are integer
// microseconds since the Unix epoch (`...Us`); the wire carries int64
// nanoseconds, converted by the codecs.

/** A WGS84 position. `altM` is omitted when unknown (0 on the wire). */
export interface GeoPoint {
  lat: number;
  lon: number;
  altM?: number;
}

export interface MeasurementBatch {
  serial: string;
  channel: string;
  unit: string;
  sequence: number;
  firstSampleTimeUs: number;
  /** Regular sample period; 0 only when `sampleTimesUs` is given. */
  samplePeriodNs: number;
  /** Explicit per-sample times (same length as `values`) for irregular batches. */
  sampleTimesUs?: number[];
  values: number[];
  position?: GeoPoint;
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface LogEntry {
  timeUs: number;
  level: LogLevel;
  /** e.g. `C001_ABORTED`; empty when none. */
  errorCode: string;
  appVersion: string;
  firmwareVersion: string;
  message: string;
  component: string;
}

export interface LogBatch {
  serial: string;
  sequence: number;
  entries: LogEntry[];
}

export type PowerState = 'AWAKE' | 'ASLEEP' | 'OFFLINE';
export type StateReason = 'BIRTH' | 'HEARTBEAT' | 'CHANGE' | 'WILL';

export interface SensorState {
  serial: string;
  kind: string;
  channels: string[];
  firmware: string;
  location?: GeoPoint;
  state: PowerState;
  sampleFrequencyHz: number;
  uptimeS: number;
  reason: StateReason;
  timeUs: number;
  labels: Record<string, string>;
  /** Range the sensor accepts; 0 when unknown. */
  minFrequencyHz: number;
  maxFrequencyHz: number;
}

export interface Command {
  /** uuid; a sensor applies each id once. */
  commandId: string;
  serial: string;
  type: CommandType;
  /** Required (> 0) for `changesamplefrequency`, omitted otherwise. */
  sampleFrequencyHz?: number;
  issuedAtUs: number;
  /** Omitted: never expires. */
  expiresAtUs?: number;
  /** e.g. `iotctl:alice`, `registry:reconcile`, `alarm-service:rule-id`. */
  issuedBy: string;
}

export type AckStatus = 'APPLIED' | 'REJECTED' | 'EXPIRED';

export interface CommandAck {
  commandId: string;
  serial: string;
  status: AckStatus;
  reason: string;
  /** Resulting state, when known. */
  state?: PowerState;
  /** Resulting frequency, when known. */
  sampleFrequencyHz?: number;
  timeUs: number;
  type?: CommandType;
}

export type AlarmSeverity = 'INFO' | 'WARNING' | 'MAJOR' | 'CRITICAL';
export type AlarmTransition = 'RAISED' | 'CLEARED' | 'ACKNOWLEDGED';

export interface Alarm {
  /** uuid of the episode (same id on raise, clear and ack). */
  alarmId: string;
  serial: string;
  rule: string;
  severity: AlarmSeverity;
  transition: AlarmTransition;
  value: number;
  threshold: number;
  /** Evaluation window, 0 for point rules. */
  windowNs: number;
  timeUs: number;
  /** Empty for rules not tied to a channel (e.g. log rules). */
  channel: string;
  message: string;
}
