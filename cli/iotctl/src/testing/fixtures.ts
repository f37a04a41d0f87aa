import type { SensorSummary } from '@sensor-streaming/control';

/** A registry sensor summary for unit tests and view tests. */
export function sensor(over: Partial<SensorSummary> = {}): SensorSummary {
  return {
    serial: 'sim-0-1',
    kind: 'vibration',
    labels: { kind: 'vibration', site: 'north' },
    firmware: '1.2.3',
    channels: ['vibration'],
    location: null,
    desiredState: null,
    desiredFrequencyHz: null,
    reportedState: 'AWAKE',
    reportedFrequencyHz: 100,
    minFrequencyHz: 1,
    maxFrequencyHz: 10000,
    online: true,
    lastSeenAt: '2026-01-01T00:00:00.000Z',
    registeredAt: '2026-01-01T00:00:00.000Z',
    samplesPerSecond: 100,
    ...over,
  };
}
