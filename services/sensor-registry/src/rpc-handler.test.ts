import type { RegistryCommandRow, RegistrySensorRow } from '@sensor-streaming/db';
import { describe, expect, it } from 'vitest';
import { toCommandRecord, toSensorSummary } from './rpc-handler.js';

const row = (o: Partial<RegistrySensorRow> = {}): RegistrySensorRow => ({
  serial: 's-1',
  kind: 'environment',
  labels: { site: 'north' },
  firmware: '1.0.0',
  channels: ['temperature', 'pressure', 'humidity'],
  latitude: 59.3,
  longitude: 18.07,
  altitudeM: null,
  desiredState: null,
  desiredFrequencyHz: null,
  reportedState: 'AWAKE',
  reportedFrequencyHz: 2,
  minFrequencyHz: 0.1,
  maxFrequencyHz: 10,
  online: true,
  lastSeenAtUs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) * 1000 + 999,
  lastDataAtUs: null,
  measuredSamplesPerSecond: null,
  pendingCommands: 0,
  registeredAtUs: Date.UTC(2026, 0, 1) * 1000,
  ...o,
});

describe('toSensorSummary', () => {
  it('maps times to ISO strings (ms precision) and the location to a GeoPoint', () => {
    const s = toSensorSummary(row());
    expect(s.lastSeenAt).toBe('2026-01-02T03:04:05.678Z');
    expect(s.registeredAt).toBe('2026-01-01T00:00:00.000Z');
    expect(s.location).toEqual({ lat: 59.3, lon: 18.07 });
    expect(toSensorSummary(row({ altitudeM: 12 })).location).toEqual({ lat: 59.3, lon: 18.07, altM: 12 });
    expect(toSensorSummary(row({ latitude: null })).location).toBeNull();
    expect(toSensorSummary(row({ lastSeenAtUs: null })).lastSeenAt).toBeNull();
  });

  it('counts nominal samples/s only for an online, awake sensor', () => {
    expect(toSensorSummary(row()).samplesPerSecond).toBe(6);
    expect(toSensorSummary(row({ reportedState: 'ASLEEP' })).samplesPerSecond).toBe(0);
    expect(toSensorSummary(row({ online: false })).samplesPerSecond).toBe(0);
  });
});

describe('toCommandRecord', () => {
  it('takes the frequency from params and turns an empty reason into null', () => {
    const r: RegistryCommandRow = {
      commandId: 'c-1',
      serial: 's-1',
      type: 'changesamplefrequency',
      params: { sampleFrequencyHz: 50 },
      issuedBy: 'iotctl',
      issuedAtUs: Date.UTC(2026, 0, 1) * 1000,
      expiresAtUs: null,
      ackedAtUs: null,
      status: 'ISSUED',
      reason: '',
      rttMs: null,
    };
    expect(toCommandRecord(r)).toEqual({
      commandId: 'c-1',
      serial: 's-1',
      type: 'changesamplefrequency',
      sampleFrequencyHz: 50,
      issuedBy: 'iotctl',
      issuedAt: '2026-01-01T00:00:00.000Z',
      expiresAt: null,
      ackedAt: null,
      status: 'ISSUED',
      reason: null,
      rttMs: null,
    });
    expect(toCommandRecord({ ...r, type: 'sleep', params: {} }).sampleFrequencyHz).toBeNull();
  });
});
