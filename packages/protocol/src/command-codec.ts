import { type Codec, createCodec } from './codec.js';
import type { Command } from './domain-types.js';
import { COMMAND_TYPE_BY_WIRE, toWireEnum } from './enum-names.js';
import { ProtocolError } from './protocol-error.js';
import { assertSerial } from './serial.js';
import {
  checkTimeNs,
  getBigInt,
  getEnum,
  getFrequency,
  getString,
  getText,
  getTimeNs,
  getUuid,
  usToNs,
} from './validation.js';

const MAX_ISSUED_BY_LENGTH = 128;
/** Longest accepted command lifetime (expiresAt - issuedAt). */
const MAX_COMMAND_TTL_NS = 366n * 24n * 3600n * 1_000_000_000n;

/** Codec for `sensor.<serial>.commands.<type>` (Command). */
export const commandCodec: Codec<Command> = createCodec<Command>({
  messageName: 'Command',

  toWire(c) {
    return {
      commandId: c.commandId,
      serial: c.serial,
      type: toWireEnum(COMMAND_TYPE_BY_WIRE, c.type),
      sampleFrequencyHz: c.sampleFrequencyHz ?? 0,
      issuedAtNs: usToNs(c.issuedAtUs, 'issuedAtUs'),
      expiresAtNs: c.expiresAtUs === undefined ? 0n : usToNs(c.expiresAtUs, 'expiresAtUs'),
      issuedBy: c.issuedBy,
    };
  },

  fromWire(w, ctx) {
    const type = getEnum(w, 'type', '', COMMAND_TYPE_BY_WIRE);
    const sampleFrequencyHz = getFrequency(w, 'sampleFrequencyHz', '');
    if (type === 'changesamplefrequency' && sampleFrequencyHz <= 0) {
      throw new ProtocolError('sampleFrequencyHz', 'must be > 0 for a changesamplefrequency command');
    }
    const issuedAtUs = getTimeNs(w, 'issuedAtNs', '', ctx);
    const command: Command = {
      commandId: getUuid(w, 'commandId', ''),
      serial: assertSerial(getString(w, 'serial', ''), 'serial'),
      type,
      issuedAtUs,
      issuedBy: getText(w, 'issuedBy', '', MAX_ISSUED_BY_LENGTH, { required: true }),
    };
    if (sampleFrequencyHz > 0) command.sampleFrequencyHz = sampleFrequencyHz;
    const expiresNs = getBigInt(w, 'expiresAtNs', '');
    if (expiresNs !== 0n) {
      const issuedNs = getBigInt(w, 'issuedAtNs', '');
      const expiresAtUs = checkTimeNs(expiresNs, 'expiresAtNs', ctx, issuedNs + MAX_COMMAND_TTL_NS);
      if (expiresNs <= issuedNs)
        throw new ProtocolError('expiresAtNs', 'must be after issuedAtNs (or 0 = never)');
      command.expiresAtUs = expiresAtUs;
    }
    return command;
  },
});
