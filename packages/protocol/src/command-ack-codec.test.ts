import { describe, expect, it } from 'vitest';
import { commandAckCodec as codec } from './command-ack-codec.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import type { CommandAck } from './domain-types.js';
import { commandAckFixture, FIXTURE_NOW_US } from './fixtures/messages.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };

function json(patch: Record<string, unknown>): Buffer {
  const base = JSON.parse(codec.encode(commandAckFixture, CONTENT_TYPE_JSON).toString('utf8'));
  return jsonBody({ ...base, ...patch });
}

describe('commandAckCodec', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('round-trips via %s', (ct) => {
    expect(codec.decode(codec.encode(commandAckFixture, ct), ct, opts)).toEqual(commandAckFixture);
  });

  it('round-trips a minimal rejection (no state, frequency or type)', () => {
    const ack: CommandAck = {
      commandId: commandAckFixture.commandId,
      serial: 's',
      status: 'REJECTED',
      reason: 'frequency 1e6 Hz outside 1..25600 Hz',
      timeUs: commandAckFixture.timeUs,
    };
    expect(codec.decode(codec.encode(ack), undefined, opts)).toEqual(ack);
    expect(codec.decode(codec.encode(ack, CONTENT_TYPE_JSON), CONTENT_TYPE_JSON, opts)).toEqual(ack);
  });

  it('maps every status', () => {
    for (const status of ['APPLIED', 'REJECTED', 'EXPIRED'] as const) {
      expect(codec.decode(codec.encode({ ...commandAckFixture, status }), undefined, opts).status).toBe(
        status,
      );
    }
  });

  it.each([
    [{ status: 'ACK_STATUS_UNSPECIFIED' }, 'status'],
    [{ status: 8 }, 'status'],
    [{ state: 'SENSOR_POWER_STATE_ZOMBIE' }, 'state'],
    [{ state: 9 }, 'state'],
    [{ type: 'COMMAND_TYPE_REBOOT' }, 'type'],
    [{ sampleFrequencyHz: -1 }, 'sampleFrequencyHz'],
    [{ sampleFrequencyHz: 'NaN' }, 'sampleFrequencyHz'],
    [{ commandId: '0b6a4c2e8f1d4e3a9c5b7d2e1f0a3b4c' }, 'commandId'],
    [{ reason: 'r'.repeat(1025) }, 'reason'],
    [{ timeNs: 'soon' }, 'timeNs'],
    [{ serial: '' }, 'serial'],
  ])('rejects %j', (patch, field) => {
    expectProtocolError(() => codec.decode(json(patch), CONTENT_TYPE_JSON, opts), field);
  });
});
