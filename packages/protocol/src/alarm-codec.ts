import { type Codec, createCodec } from './codec.js';
import type { Alarm } from './domain-types.js';
import { ALARM_SEVERITY_BY_WIRE, ALARM_TRANSITION_BY_WIRE, toWireEnum } from './enum-names.js';
import { assertSerial } from './serial.js';
import {
  getEnum,
  getFinite,
  getName,
  getSafeUint,
  getString,
  getText,
  getTimeNs,
  getUuid,
  toUint64,
  usToNs,
} from './validation.js';

const MAX_MESSAGE_LENGTH = 4096;

/** Codec for `sensor.<serial>.alarms.{raised,cleared}` (Alarm). */
export const alarmCodec: Codec<Alarm> = createCodec<Alarm>({
  messageName: 'Alarm',

  toWire(a) {
    return {
      alarmId: a.alarmId,
      serial: a.serial,
      rule: a.rule,
      severity: toWireEnum(ALARM_SEVERITY_BY_WIRE, a.severity),
      transition: toWireEnum(ALARM_TRANSITION_BY_WIRE, a.transition),
      value: a.value,
      threshold: a.threshold,
      windowNs: toUint64(a.windowNs, 'windowNs'),
      timeNs: usToNs(a.timeUs, 'timeUs'),
      channel: a.channel,
      message: a.message,
    };
  },

  fromWire(w, ctx) {
    return {
      alarmId: getUuid(w, 'alarmId', ''),
      serial: assertSerial(getString(w, 'serial', ''), 'serial'),
      rule: getName(w, 'rule', ''),
      severity: getEnum(w, 'severity', '', ALARM_SEVERITY_BY_WIRE),
      transition: getEnum(w, 'transition', '', ALARM_TRANSITION_BY_WIRE),
      value: getFinite(w, 'value', ''),
      threshold: getFinite(w, 'threshold', ''),
      windowNs: getSafeUint(w, 'windowNs', ''),
      timeUs: getTimeNs(w, 'timeNs', '', ctx),
      channel: getName(w, 'channel', '', { allowEmpty: true }),
      message: getText(w, 'message', '', MAX_MESSAGE_LENGTH),
    };
  },
});
