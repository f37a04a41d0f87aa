import {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  type LogBatch,
  type LogEntry,
  type MeasurementBatch,
  logBatchCodec,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';

/*
 * The known workload: which samples and log entries exist, what each message carries, and a checksum per
 * message that the database can recompute. Values are multiples of 1/8 below 12,500, so sums of up to
 * 2^40 of them are exact in float8 and in JavaScript.
 */

export interface WorkloadOptions {
  /** Total samples (across sensors). */
  samples: number;
  samplesPerMessage: number;
  /** Total log entries. */
  logEntries: number;
  entriesPerMessage: number;
  sensors: number;
  /** Fraction (0..1) of malformed messages mixed into the stream. */
  malformedRatio: number;
  /** Serial prefix (keeps runs apart in one database). */
  prefix: string;
  /** µs since the epoch of the first sample. */
  t0Us: number;
}

/** One good message: where it goes, its body and what the database must hold for it. */
export interface GoodMessage {
  kind: 'data' | 'logs';
  id: string;
  serial: string;
  seq: number;
  routingKey: string;
  body: Buffer;
  contentType: string;
  rows: number;
  checksum: number;
}

export type MalformedKind =
  | 'garbage'
  | 'empty'
  | 'oversized'
  | 'not-finite'
  | 'routing-mismatch'
  | 'logs-garbage';

export interface MalformedMessage {
  kind: 'malformed';
  malformed: MalformedKind;
  id: string;
  routingKey: string;
  body: Buffer;
  contentType: string;
  /** The dead-letter reason must match this. */
  reason: RegExp;
}

export type WorkloadMessage = GoodMessage | MalformedMessage;

export const SAMPLE_PERIOD_US = 1000;

export function sampleValue(sensor: number, seq: number, i: number): number {
  return ((sensor * 1_000_003 + seq * 997 + i * 31) % 100_000) / 8;
}

export function serialOf(prefix: string, sensor: number): string {
  return `${prefix}-s${sensor}`;
}

function dataMessage(o: WorkloadOptions, sensor: number, seq: number): GoodMessage {
  const serial = serialOf(o.prefix, sensor);
  const n = o.samplesPerMessage;
  const values = new Array<number>(n);
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const v = sampleValue(sensor, seq, i);
    values[i] = v;
    checksum += v;
  }
  const batch: MeasurementBatch = {
    serial,
    channel: 'vibration',
    unit: 'mm/s',
    sequence: seq,
    firstSampleTimeUs: o.t0Us + seq * n * SAMPLE_PERIOD_US,
    samplePeriodNs: SAMPLE_PERIOD_US * 1000,
    values,
  };
  return {
    kind: 'data',
    id: `good-data-${serial}-${seq}`,
    serial,
    seq,
    routingKey: routingKeys.data(serial),
    body: measurementBatchCodec.encode(batch),
    contentType: CONTENT_TYPE_PROTOBUF,
    rows: n,
    checksum,
  };
}

/** Log entry j of message seq carries x = seq * entriesPerMessage + j in its text; the checksum sums x. */
function logsMessage(o: WorkloadOptions, sensor: number, seq: number): GoodMessage {
  const serial = serialOf(o.prefix, sensor);
  const m = o.entriesPerMessage;
  const entries: LogEntry[] = [];
  let checksum = 0;
  for (let j = 0; j < m; j++) {
    const x = seq * m + j;
    checksum += x;
    entries.push({
      timeUs: o.t0Us + x * SAMPLE_PERIOD_US,
      level: j % 7 === 0 ? 'WARN' : 'INFO',
      errorCode: j % 7 === 0 ? 'E-FAULT' : '',
      appVersion: '1.0.0',
      firmwareVersion: 'fw-1',
      message: `fault-log ${serial} ${seq} x=${x}`,
      component: 'fault-suite',
    });
  }
  const batch: LogBatch = { serial, sequence: seq, entries };
  return {
    kind: 'logs',
    id: `good-logs-${serial}-${seq}`,
    serial,
    seq,
    routingKey: routingKeys.logs(serial),
    body: logBatchCodec.encode(batch),
    contentType: CONTENT_TYPE_PROTOBUF,
    rows: m,
    checksum,
  };
}

const MALFORMED_ORDER: MalformedKind[] = [
  'garbage',
  'empty',
  'not-finite',
  'routing-mismatch',
  'logs-garbage',
  'garbage',
  'empty',
  'not-finite',
  'routing-mismatch',
  'logs-garbage',
  'garbage',
  'empty',
  'not-finite',
  'routing-mismatch',
  'logs-garbage',
  'garbage',
  'empty',
  'not-finite',
  'routing-mismatch',
  'oversized',
];

function malformedMessage(o: WorkloadOptions, n: number, seed: number): MalformedMessage {
  const kind = MALFORMED_ORDER[n % MALFORMED_ORDER.length] as MalformedKind;
  const serial = serialOf(o.prefix, n % o.sensors);
  const id = `bad-${kind}-${n}`;
  switch (kind) {
    case 'garbage': {
      const body = Buffer.alloc(64 + (n % 64));
      let s = (seed ^ n) >>> 0;
      for (let i = 0; i < body.length; i++) {
        s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
        body[i] = s >>> 24;
      }
      // field 1 (serial) as a string with a length past the end: never a valid message
      body[0] = 0x0a;
      body[1] = 0xff;
      body[2] = 0x7f;
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.data(serial),
        body,
        contentType: CONTENT_TYPE_PROTOBUF,
        reason: /^PROTOCOL_INVALID: /,
      };
    }
    case 'logs-garbage':
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.logs(serial),
        body: Buffer.from('{"serial": 42, "entries": "nope"}'),
        contentType: CONTENT_TYPE_JSON,
        reason: /^PROTOCOL_INVALID: serial: /,
      };
    case 'empty':
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.data(serial),
        body: Buffer.alloc(0),
        contentType: CONTENT_TYPE_PROTOBUF,
        reason: /^PROTOCOL_INVALID: body: is empty/,
      };
    case 'oversized':
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.data(serial),
        body: Buffer.alloc(5 * 1024 * 1024, 0x41),
        contentType: CONTENT_TYPE_PROTOBUF,
        reason: /^PROTOCOL_INVALID: body: is 5242880 bytes, more than the \d+ accepted/,
      };
    case 'not-finite':
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.data(serial),
        body: Buffer.from(
          JSON.stringify({
            serial,
            channel: 'vibration',
            unit: 'mm/s',
            sequence: '1',
            firstSampleTimeNs: String(BigInt(o.t0Us) * 1000n),
            samplePeriodNs: '1000000',
            values: [1, 'NaN', 3],
          }),
        ),
        contentType: CONTENT_TYPE_JSON,
        reason: /^PROTOCOL_INVALID: values\[1\]: must be finite/,
      };
    case 'routing-mismatch': {
      const other = serialOf(o.prefix, (n + 1) % o.sensors);
      const good = dataMessage({ ...o, samplesPerMessage: 3 }, n % o.sensors, 1_000_000 + n);
      return {
        kind: 'malformed',
        malformed: kind,
        id,
        routingKey: routingKeys.data(other === serial ? `${serial}x` : other),
        body: good.body,
        contentType: CONTENT_TYPE_PROTOBUF,
        reason: /^ROUTING_KEY_MISMATCH: /,
      };
    }
  }
}

/** Every message of the workload in publishing order (data and logs interleaved, malformed mixed in). */
export function* workloadMessages(o: WorkloadOptions, seed = 0x5eed): Generator<WorkloadMessage> {
  const dataPerSensor = Math.ceil(o.samples / o.samplesPerMessage / o.sensors);
  const logsPerSensor = Math.ceil(o.logEntries / o.entriesPerMessage / o.sensors);
  const dataTotal = dataPerSensor * o.sensors;
  const logsTotal = logsPerSensor * o.sensors;
  const good = dataTotal + logsTotal;
  const malformedTotal = Math.round((good * o.malformedRatio) / (1 - o.malformedRatio));
  let data = 0;
  let logs = 0;
  let malformed = 0;
  // data and logs in proportion, so both flow for the whole run; sensor-minor order within each
  while (data + logs < good) {
    if (logs >= logsTotal || (data < dataTotal && data * logsTotal <= logs * dataTotal)) {
      yield dataMessage(o, data % o.sensors, Math.floor(data / o.sensors));
      data++;
    } else {
      yield logsMessage(o, logs % o.sensors, Math.floor(logs / o.sensors));
      logs++;
    }
    // spread the malformed ones evenly through the stream
    while (malformed < malformedTotal && malformed * good < (data + logs) * malformedTotal) {
      yield malformedMessage(o, malformed++, seed);
    }
  }
  while (malformed < malformedTotal) yield malformedMessage(o, malformed++, seed);
}

/** How many messages, samples and entries the workload has (without building it). */
export function workloadSize(o: WorkloadOptions): {
  dataMessages: number;
  logMessages: number;
  malformed: number;
  samples: number;
  entries: number;
} {
  const dataPerSensor = Math.ceil(o.samples / o.samplesPerMessage / o.sensors);
  const logsPerSensor = Math.ceil(o.logEntries / o.entriesPerMessage / o.sensors);
  const good = dataPerSensor * o.sensors + logsPerSensor * o.sensors;
  return {
    dataMessages: dataPerSensor * o.sensors,
    logMessages: logsPerSensor * o.sensors,
    malformed: Math.round((good * o.malformedRatio) / (1 - o.malformedRatio)),
    samples: dataPerSensor * o.sensors * o.samplesPerMessage,
    entries: logsPerSensor * o.sensors * o.entriesPerMessage,
  };
}
