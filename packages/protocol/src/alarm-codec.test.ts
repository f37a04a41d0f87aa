import { describe, expect, it } from 'vitest';
import { alarmCodec as codec } from './alarm-codec.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import { alarmFixture, FIXTURE_NOW_US } from './fixtures/messages.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };

function json(patch: Record<string, unknown>): Buffer {
  const base = JSON.parse(codec.encode(alarmFixture, CONTENT_TYPE_JSON).toString('utf8'));
  return jsonBody({ ...base, ...patch });
}

describe('alarmCodec', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('round-trips via %s', (ct) => {
    expect(codec.decode(codec.encode(alarmFixture, ct), ct, opts)).toEqual(alarmFixture);
  });

  it('round-trips every severity and transition, and a log alarm without channel', () => {
    for (const severity of ['INFO', 'WARNING', 'MAJOR', 'CRITICAL'] as const) {
      for (const transition of ['RAISED', 'CLEARED', 'ACKNOWLEDGED'] as const) {
        const a = {
          ...alarmFixture,
          severity,
          transition,
          channel: '',
          windowNs: 0,
          value: 0,
          threshold: -1,
        };
        expect(codec.decode(codec.encode(a), undefined, opts)).toEqual(a);
      }
    }
  });

  it.each([
    [{ alarmId: 'x' }, 'alarmId'],
    [{ severity: 'ALARM_SEVERITY_UNSPECIFIED' }, 'severity'],
    [{ severity: 'CRITICAL' }, 'severity'],
    [{ transition: 0 }, 'transition'],
    [{ transition: 4 }, 'transition'],
    [{ value: 'NaN' }, 'value'],
    [{ threshold: '-Infinity' }, 'threshold'],
    [{ threshold: [] }, 'threshold'],
    [{ windowNs: '-1' }, 'windowNs'],
    [{ rule: '' }, 'rule'],
    [{ rule: 'has space' }, 'rule'],
    [{ channel: 'bad channel' }, 'channel'],
    [{ message: 'm'.repeat(4097) }, 'message'],
    [{ timeNs: '1' }, 'timeNs'],
    [{ serial: 's*' }, 'serial'],
  ])('rejects %j', (patch, field) => {
    expectProtocolError(() => codec.decode(json(patch), CONTENT_TYPE_JSON, opts), field);
  });

  it('validates on encode', () => {
    expectProtocolError(() => codec.encode({ ...alarmFixture, value: Number.NaN }), 'value', /finite/);
    expectProtocolError(() => codec.encode({ ...alarmFixture, windowNs: -1 }), 'windowNs');
  });
});
