import { type Codec, createCodec } from './codec.js';
import type { CommandAck } from './domain-types.js';
import { ACK_STATUS_BY_WIRE, COMMAND_TYPE_BY_WIRE, POWER_STATE_BY_WIRE, toWireEnum } from './enum-names.js';
import { assertSerial } from './serial.js';
import {
  getEnum,
  getFrequency,
  getOptionalEnum,
  getString,
  getText,
  getTimeNs,
  getUuid,
  usToNs,
} from './validation.js';

const MAX_REASON_LENGTH = 1024;

/** Codec for `sensor.<serial>.acks` (CommandAck). */
export const commandAckCodec: Codec<CommandAck> = createCodec<CommandAck>({
  messageName: 'CommandAck',

  toWire(a) {
    return {
      commandId: a.commandId,
      serial: a.serial,
      status: toWireEnum(ACK_STATUS_BY_WIRE, a.status),
      reason: a.reason,
      state: toWireEnum(POWER_STATE_BY_WIRE, a.state),
      sampleFrequencyHz: a.sampleFrequencyHz ?? 0,
      timeNs: usToNs(a.timeUs, 'timeUs'),
      type: toWireEnum(COMMAND_TYPE_BY_WIRE, a.type),
    };
  },

  fromWire(w, ctx) {
    const ack: CommandAck = {
      commandId: getUuid(w, 'commandId', ''),
      serial: assertSerial(getString(w, 'serial', ''), 'serial'),
      status: getEnum(w, 'status', '', ACK_STATUS_BY_WIRE),
      reason: getText(w, 'reason', '', MAX_REASON_LENGTH),
      timeUs: getTimeNs(w, 'timeNs', '', ctx),
    };
    const state = getOptionalEnum(w, 'state', '', POWER_STATE_BY_WIRE);
    if (state !== undefined) ack.state = state;
    const sampleFrequencyHz = getFrequency(w, 'sampleFrequencyHz', '');
    if (sampleFrequencyHz > 0) ack.sampleFrequencyHz = sampleFrequencyHz;
    const type = getOptionalEnum(w, 'type', '', COMMAND_TYPE_BY_WIRE);
    if (type !== undefined) ack.type = type;
    return ack;
  },
});
