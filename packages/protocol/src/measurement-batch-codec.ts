import { type Codec, createCodec } from './codec.js';
import type { MeasurementBatch } from './domain-types.js';
import { ProtocolError } from './protocol-error.js';
import { assertSerial } from './serial.js';
import {
  checkBatchSize,
  checkFinite,
  checkTimeNs,
  geoFromWire,
  geoToWire,
  getArray,
  getBigInt,
  getMessage,
  getName,
  getSafeUint,
  getString,
  getText,
  maxTimeNs,
  toUint64,
  usToNs,
} from './validation.js';

const MAX_UNIT_LENGTH = 32;

/** Codec for `sensor.<serial>.data` (MeasurementBatch). */
export const measurementBatchCodec: Codec<MeasurementBatch> = createCodec<MeasurementBatch>({
  messageName: 'MeasurementBatch',

  toWire(b) {
    return {
      serial: b.serial,
      channel: b.channel,
      unit: b.unit,
      sequence: toUint64(b.sequence, 'sequence'),
      firstSampleTimeNs: usToNs(b.firstSampleTimeUs, 'firstSampleTimeUs'),
      samplePeriodNs: toUint64(b.samplePeriodNs, 'samplePeriodNs'),
      sampleTimesNs: (b.sampleTimesUs ?? []).map((t, i) => usToNs(t, `sampleTimesUs[${i}]`)),
      values: b.values,
      position: geoToWire(b.position),
    };
  },

  fromWire(w, ctx) {
    const serial = assertSerial(getString(w, 'serial', ''), 'serial');
    const channel = getName(w, 'channel', '');
    const unit = getText(w, 'unit', '', MAX_UNIT_LENGTH);
    const sequence = getSafeUint(w, 'sequence', '');

    const values = getArray(w, 'values', '');
    checkBatchSize(values.length, 'values', ctx);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) checkFinite(v, `values[${i}]`);
    }

    const samplePeriodNs = getSafeUint(w, 'samplePeriodNs', '');
    const firstNs = getBigInt(w, 'firstSampleTimeNs', '');
    const timesNs = getArray(w, 'sampleTimesNs', '');
    const upperNs = maxTimeNs(ctx);

    let firstSampleTimeUs: number;
    let sampleTimesUs: number[] | undefined;
    if (timesNs.length > 0) {
      if (timesNs.length !== values.length) {
        throw new ProtocolError(
          'sampleTimesNs',
          `has ${timesNs.length} times but values has ${values.length}; give one time per value`,
        );
      }
      sampleTimesUs = timesNs.map((t, i) => checkTimeNs(t, `sampleTimesNs[${i}]`, ctx, upperNs));
      if (firstNs !== 0n && firstNs !== timesNs[0]) {
        throw new ProtocolError('firstSampleTimeNs', 'must be 0 or equal to sampleTimesNs[0]');
      }
      firstSampleTimeUs = sampleTimesUs[0] as number;
    } else {
      if (samplePeriodNs <= 0) {
        throw new ProtocolError(
          'samplePeriodNs',
          'must be > 0 unless sampleTimesNs gives one time per value',
        );
      }
      firstSampleTimeUs = checkTimeNs(firstNs, 'firstSampleTimeNs', ctx, upperNs);
      const lastNs = firstNs + BigInt(samplePeriodNs) * BigInt(values.length - 1);
      if (lastNs > upperNs) {
        throw new ProtocolError(
          'samplePeriodNs',
          `puts the last sample too far in the future (${lastNs} ns)`,
        );
      }
    }

    const position = getMessage(w, 'position', '');
    const batch: MeasurementBatch = {
      serial,
      channel,
      unit,
      sequence,
      firstSampleTimeUs,
      samplePeriodNs,
      values: values as number[],
    };
    if (sampleTimesUs !== undefined) batch.sampleTimesUs = sampleTimesUs;
    if (position !== undefined) batch.position = geoFromWire(position, 'position');
    return batch;
  },
});
