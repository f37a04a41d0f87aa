/** Monitoring-event error codes carried in LogEntry.errorCode. */
export const ERROR_CODES = [
  'C001_ABORTED',
  'C002_TIMEOUT',
  'C003_SENSOR_SATURATED',
  'C004_OUT_OF_RANGE',
  'C005_STUCK_VALUE',
  'C006_DRIFT_DETECTED',
  'C007_SIGNAL_LOST',
  'C008_CALIBRATION_FAILED',
  'C009_LOW_BATTERY',
  'C010_OVERTEMPERATURE',
  'C011_BUFFER_OVERFLOW',
  'C012_CHECKSUM_MISMATCH',
  'C013_BEARING_WEAR',
  'C014_UNKNOWN',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Version of this simulator, reported as the application version of every log entry. */
export const APP_VERSION = 'sensor-simulator/0.1.0';
