import { describe, expect, it } from 'vitest';
import { commandCodec as codec } from './command-codec.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import type { Command } from './domain-types.js';
import { commandFixture, FIXTURE_NOW_US } from './fixtures/messages.js';
import { expectProtocolError, jsonBody } from './test-helpers.js';

const opts = { nowUs: FIXTURE_NOW_US };

function json(patch: Record<string, unknown>): Buffer {
  const base = JSON.parse(codec.encode(commandFixture, CONTENT_TYPE_JSON).toString('utf8'));
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return jsonBody(base);
}

describe('commandCodec', () => {
  it.each([CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON])('round-trips via %s', (ct) => {
    expect(codec.decode(codec.encode(commandFixture, ct), ct, opts)).toEqual(commandFixture);
  });

  it('round-trips sleep and awake without frequency or expiry', () => {
    for (const type of ['sleep', 'awake'] as const) {
      const c: Command = {
        commandId: commandFixture.commandId,
        serial: 's1',
        type,
        issuedAtUs: commandFixture.issuedAtUs,
        issuedBy: 'registry:reconcile',
      };
      expect(codec.decode(codec.encode(c), undefined, opts)).toEqual(c);
    }
  });

  it('normalises the command id to lower case', () => {
    const upper = commandFixture.commandId.toUpperCase();
    expect(codec.decode(json({ commandId: upper }), CONTENT_TYPE_JSON, opts).commandId).toBe(
      commandFixture.commandId,
    );
  });

  it('requires a frequency for changesamplefrequency', () => {
    const { sampleFrequencyHz: _, ...noFrequency } = commandFixture;
    expectProtocolError(() => codec.encode(noFrequency), 'sampleFrequencyHz', /> 0/);
    expectProtocolError(
      () => codec.decode(json({ sampleFrequencyHz: undefined }), CONTENT_TYPE_JSON, opts),
      'sampleFrequencyHz',
    );
    expectProtocolError(
      () => codec.decode(json({ sampleFrequencyHz: -5 }), CONTENT_TYPE_JSON, opts),
      'sampleFrequencyHz',
    );
    expectProtocolError(
      () => codec.decode(json({ sampleFrequencyHz: 'Infinity' }), CONTENT_TYPE_JSON, opts),
      'sampleFrequencyHz',
      /finite/,
    );
  });

  it.each([
    [{ commandId: 'not-a-uuid' }, 'commandId'],
    [{ commandId: '' }, 'commandId'],
    [{ type: 'COMMAND_TYPE_UNSPECIFIED' }, 'type'],
    [{ type: 'COMMAND_TYPE_REBOOT' }, 'type'],
    [{ type: 'sleep' }, 'type'],
    [{ issuedBy: '' }, 'issuedBy'],
    [{ issuedBy: 'x'.repeat(129) }, 'issuedBy'],
    [{ issuedAtNs: '5' }, 'issuedAtNs'],
    [{ expiresAtNs: '1767225530000000000' }, 'expiresAtNs'],
    [
      { expiresAtNs: String((BigInt(commandFixture.issuedAtUs) + 367n * 86_400_000_000n) * 1000n) },
      'expiresAtNs',
    ],
    [{ serial: 'a#' }, 'serial'],
  ])('rejects %j', (patch, field) => {
    expectProtocolError(() => codec.decode(json(patch), CONTENT_TYPE_JSON, opts), field);
  });

  it('accepts an expiry beyond the 24 h clock horizon (a queued command may wait days)', () => {
    const expiresAtUs = commandFixture.issuedAtUs + 7 * 86_400_000_000;
    const c = { ...commandFixture, expiresAtUs };
    expect(codec.decode(codec.encode(c), undefined, opts).expiresAtUs).toBe(expiresAtUs);
  });
});
