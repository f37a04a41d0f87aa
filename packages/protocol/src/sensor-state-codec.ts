import { type Codec, createCodec } from './codec.js';
import type { SensorState } from './domain-types.js';
import { POWER_STATE_BY_WIRE, STATE_REASON_BY_WIRE, toWireEnum } from './enum-names.js';
import { ProtocolError } from './protocol-error.js';
import { assertSerial } from './serial.js';
import {
  checkName,
  geoFromWire,
  geoToWire,
  getArray,
  getEnum,
  getFrequency,
  getMessage,
  getName,
  getSafeUint,
  getString,
  getText,
  getTimeNs,
  toUint64,
  usToNs,
} from './validation.js';
import type { WireObject } from './wire-object.js';

const MAX_CHANNELS = 64;
const MAX_LABELS = 64;
const MAX_LABEL_VALUE_LENGTH = 256;
const MAX_FIRMWARE_LENGTH = 64;

function labelsFromWire(items: unknown[]): Record<string, string> {
  if (items.length > MAX_LABELS) throw new ProtocolError('labels', `must have at most ${MAX_LABELS} entries`);
  const labels: Record<string, string> = {};
  items.forEach((item, i) => {
    const path = `labels[${i}]`;
    if (item === null || typeof item !== 'object') throw new ProtocolError(path, 'must be a Label message');
    const l = item as WireObject;
    const key = getName(l, 'key', path);
    if (Object.hasOwn(labels, key))
      throw new ProtocolError(`${path}.key`, `duplicates label ${JSON.stringify(key)}`);
    labels[key] = getText(l, 'value', path, MAX_LABEL_VALUE_LENGTH);
  });
  return labels;
}

/** Codec for `sensor.<serial>.state` (SensorState: birth, heartbeat, change, will). */
export const sensorStateCodec: Codec<SensorState> = createCodec<SensorState>({
  messageName: 'SensorState',

  toWire(s) {
    if (s.labels === null || typeof s.labels !== 'object')
      throw new ProtocolError('labels', 'must be an object');
    return {
      serial: s.serial,
      kind: s.kind,
      channels: s.channels,
      firmware: s.firmware,
      location: geoToWire(s.location),
      state: toWireEnum(POWER_STATE_BY_WIRE, s.state),
      sampleFrequencyHz: s.sampleFrequencyHz,
      uptimeS: toUint64(s.uptimeS, 'uptimeS'),
      reason: toWireEnum(STATE_REASON_BY_WIRE, s.reason),
      timeNs: usToNs(s.timeUs, 'timeUs'),
      labels: Object.entries(s.labels).map(([key, value]) => ({ key, value })),
      minFrequencyHz: s.minFrequencyHz,
      maxFrequencyHz: s.maxFrequencyHz,
    };
  },

  fromWire(w, ctx) {
    const channels = getArray(w, 'channels', '');
    if (channels.length > MAX_CHANNELS)
      throw new ProtocolError('channels', `must have at most ${MAX_CHANNELS} entries`);
    const location = getMessage(w, 'location', '');
    const minFrequencyHz = getFrequency(w, 'minFrequencyHz', '');
    const maxFrequencyHz = getFrequency(w, 'maxFrequencyHz', '');
    if (minFrequencyHz > 0 && maxFrequencyHz > 0 && minFrequencyHz > maxFrequencyHz) {
      throw new ProtocolError('minFrequencyHz', `must not exceed maxFrequencyHz (${maxFrequencyHz})`);
    }
    const state: SensorState = {
      serial: assertSerial(getString(w, 'serial', ''), 'serial'),
      kind: getName(w, 'kind', ''),
      channels: channels.map((c, i) => checkName(c, `channels[${i}]`)),
      firmware: getText(w, 'firmware', '', MAX_FIRMWARE_LENGTH),
      state: getEnum(w, 'state', '', POWER_STATE_BY_WIRE),
      sampleFrequencyHz: getFrequency(w, 'sampleFrequencyHz', ''),
      uptimeS: getSafeUint(w, 'uptimeS', ''),
      reason: getEnum(w, 'reason', '', STATE_REASON_BY_WIRE),
      timeUs: getTimeNs(w, 'timeNs', '', ctx),
      labels: labelsFromWire(getArray(w, 'labels', '')),
      minFrequencyHz,
      maxFrequencyHz,
    };
    if (location !== undefined) state.location = geoFromWire(location, 'location');
    return state;
  },
});
