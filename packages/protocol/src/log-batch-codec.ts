import { type Codec, createCodec } from './codec.js';
import type { LogBatch, LogEntry } from './domain-types.js';
import { LOG_LEVEL_BY_WIRE, toWireEnum } from './enum-names.js';
import { ProtocolError } from './protocol-error.js';
import { assertSerial } from './serial.js';
import {
  checkBatchSize,
  getArray,
  getEnum,
  getErrorCode,
  getName,
  getSafeUint,
  getString,
  getText,
  getTimeNs,
  usToNs,
  toUint64,
  type ValidationContext,
} from './validation.js';
import type { WireObject } from './wire-object.js';

const MAX_VERSION_LENGTH = 64;
const MAX_MESSAGE_LENGTH = 8192;

function entryFromWire(w: unknown, path: string, ctx: ValidationContext): LogEntry {
  if (w === null || typeof w !== 'object') throw new ProtocolError(path, 'must be a LogEntry message');
  const e = w as WireObject;
  return {
    timeUs: getTimeNs(e, 'timeNs', path, ctx),
    level: getEnum(e, 'level', path, LOG_LEVEL_BY_WIRE),
    errorCode: getErrorCode(e, 'errorCode', path),
    appVersion: getText(e, 'appVersion', path, MAX_VERSION_LENGTH),
    firmwareVersion: getText(e, 'firmwareVersion', path, MAX_VERSION_LENGTH),
    message: getText(e, 'message', path, MAX_MESSAGE_LENGTH),
    component: getName(e, 'component', path, { allowEmpty: true }),
  };
}

function entryToWire(e: LogEntry, i: number): WireObject {
  return {
    timeNs: usToNs(e.timeUs, `entries[${i}].timeUs`),
    level: toWireEnum(LOG_LEVEL_BY_WIRE, e.level),
    errorCode: e.errorCode,
    appVersion: e.appVersion,
    firmwareVersion: e.firmwareVersion,
    message: e.message,
    component: e.component,
  };
}

/** Codec for `sensor.<serial>.logs` (LogBatch). */
export const logBatchCodec: Codec<LogBatch> = createCodec<LogBatch>({
  messageName: 'LogBatch',

  toWire(b) {
    if (!Array.isArray(b.entries)) throw new ProtocolError('entries', 'must be an array');
    return {
      serial: b.serial,
      sequence: toUint64(b.sequence, 'sequence'),
      entries: b.entries.map(entryToWire),
    };
  },

  fromWire(w, ctx) {
    const serial = assertSerial(getString(w, 'serial', ''), 'serial');
    const sequence = getSafeUint(w, 'sequence', '');
    const entries = getArray(w, 'entries', '');
    checkBatchSize(entries.length, 'entries', ctx);
    return { serial, sequence, entries: entries.map((e, i) => entryFromWire(e, `entries[${i}]`, ctx)) };
  },
});
