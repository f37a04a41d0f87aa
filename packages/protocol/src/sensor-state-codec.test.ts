import { describe, expect, it } from 'vitest';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import type { SensorState } from './domain-types.js';
import { FIXTURE_NOW_US, sensorStateFixture } from './fixtures/messages.js';
import { sensorStateCodec as codec } from './sensor-state-codec.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };

function json(patch: Record<string, unknown>): Buffer {
  const base = JSON.parse(codec.encode(sensorStateFixture, CONTENT_TYPE_JSON).toString('utf8'));
  return jsonBody({ ...base, ...patch });
}

describe('sensorStateCodec', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('round-trips via %s', (ct) => {
    expect(codec.decode(codec.encode(sensorStateFixture, ct), ct, opts)).toEqual(sensorStateFixture);
  });

  it('round-trips a will message without location, labels or channels', () => {
    const will: SensorState = {
      ...sensorStateFixture,
      channels: [],
      labels: {},
      state: 'OFFLINE',
      reason: 'WILL',
      sampleFrequencyHz: 0,
      uptimeS: 0,
      minFrequencyHz: 0,
      maxFrequencyHz: 0,
    };
    delete will.location;
    expect(codec.decode(codec.encode(will), undefined, opts)).toEqual(will);
  });

  it('maps every power state and reason', () => {
    for (const state of ['AWAKE', 'ASLEEP', 'OFFLINE'] as const) {
      for (const reason of ['BIRTH', 'HEARTBEAT', 'CHANGE', 'WILL'] as const) {
        const decoded = codec.decode(codec.encode({ ...sensorStateFixture, state, reason }), undefined, opts);
        expect([decoded.state, decoded.reason]).toEqual([state, reason]);
      }
    }
  });

  it.each([
    [{ state: 'SENSOR_POWER_STATE_UNSPECIFIED' }, 'state'],
    [{ state: 'AWAKE' }, 'state'],
    [{ reason: 0 }, 'reason'],
    [{ reason: 17 }, 'reason'],
    [{ sampleFrequencyHz: -1 }, 'sampleFrequencyHz'],
    [{ sampleFrequencyHz: 'NaN' }, 'sampleFrequencyHz'],
    [{ minFrequencyHz: 'Infinity' }, 'minFrequencyHz'],
    [{ minFrequencyHz: 100, maxFrequencyHz: 10 }, 'minFrequencyHz'],
    [{ channels: ['ok', 'not ok'] }, 'channels[1]'],
    [{ channels: 'vibration' }, 'channels'],
    [
      {
        labels: [
          { key: 'site', value: 'a' },
          { key: 'site', value: 'b' },
        ],
      },
      'labels[1].key',
    ],
    [{ labels: [{ key: '', value: 'a' }] }, 'labels[0].key'],
    [{ labels: { site: 'a' } }, 'labels'],
    [{ location: { lat: 100, lon: 0 } }, 'location.lat'],
    [{ kind: '' }, 'kind'],
    [{ timeNs: '0' }, 'timeNs'],
    [{ uptimeS: '-1' }, 'uptimeS'],
    [{ serial: 'bad.serial' }, 'serial'],
  ])('rejects %j', (patch, field) => {
    expectProtocolError(() => codec.decode(json(patch), CONTENT_TYPE_JSON, opts), field);
  });

  it('limits labels and channels', () => {
    const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expectProtocolError(() => codec.encode({ ...sensorStateFixture, labels }), 'labels', /64/);
    const channels = Array.from({ length: 65 }, (_, i) => `c${i}`);
    expectProtocolError(() => codec.encode({ ...sensorStateFixture, channels }), 'channels', /64/);
    expectProtocolError(
      () => codec.encode({ ...sensorStateFixture, labels: { site: 'x'.repeat(257) } }),
      'labels[0].value',
      /256/,
    );
  });

  it('validates on encode', () => {
    expectProtocolError(() => codec.encode({ ...sensorStateFixture, state: 'DEAD' as 'AWAKE' }), 'state');
    expectProtocolError(() => codec.encode({ ...sensorStateFixture, uptimeS: 1.5 }), 'uptimeS');
    expectProtocolError(() => codec.encode({ ...sensorStateFixture, timeUs: Number.NaN }), 'timeUs');
  });
});
