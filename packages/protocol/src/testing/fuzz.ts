import { alarmCodec } from '../alarm-codec.js';
import { type Codec, wireFormatOf } from '../codec.js';
import { commandAckCodec } from '../command-ack-codec.js';
import { commandCodec } from '../command-codec.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from '../constants.js';
import {
  alarmFixture,
  commandAckFixture,
  commandFixture,
  FIXTURE_NOW_US,
  irregularMeasurementBatchFixture,
  logBatchFixture,
  measurementBatchFixture,
  sensorStateFixture,
} from '../fixtures/messages.js';
import { logBatchCodec } from '../log-batch-codec.js';
import { measurementBatchCodec } from '../measurement-batch-codec.js';
import { ProtocolError } from '../protocol-error.js';
import { parseRoutingKey, routingKeys } from '../routing-keys.js';
import { sensorStateCodec } from '../sensor-state-codec.js';
import { assertSerial, isValidSerial } from '../serial.js';

/*
 * Decoder fuzzing: generated inputs (random bytes, bit flips, truncations, splices of valid messages,
 * mutated JSON, mutated domain objects) for every decoder and validator of the protocol. The contract
 * checked on each input: the only thing that may escape is a ProtocolError; an accepted message re-encodes
 * (protobuf and JSON) and decodes back to an equal message.
 */

export interface FuzzOptions {
  /** Generated inputs per decoder / validator. */
  iterations: number;
  seed: number;
}

export interface FuzzTargetResult {
  decoder: string;
  inputs: number;
  accepted: number;
  rejected: number;
}

export interface FuzzReport {
  results: FuzzTargetResult[];
  /** Contract violations, one line each (at most 20). */
  problems: string[];
}

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  name: string;
  codec: Codec<unknown>;
  fixtures: unknown[];
}

const TARGETS: Target[] = [
  {
    name: 'MeasurementBatch',
    codec: measurementBatchCodec as Codec<unknown>,
    fixtures: [measurementBatchFixture, irregularMeasurementBatchFixture],
  },
  { name: 'LogBatch', codec: logBatchCodec as Codec<unknown>, fixtures: [logBatchFixture] },
  { name: 'SensorState', codec: sensorStateCodec as Codec<unknown>, fixtures: [sensorStateFixture] },
  { name: 'Command', codec: commandCodec as Codec<unknown>, fixtures: [commandFixture] },
  { name: 'CommandAck', codec: commandAckCodec as Codec<unknown>, fixtures: [commandAckFixture] },
  { name: 'Alarm', codec: alarmCodec as Codec<unknown>, fixtures: [alarmFixture] },
];

const ALL_FIXTURE_BYTES: Buffer[] = TARGETS.flatMap((t) => t.fixtures.map((f) => t.codec.encode(f)));

const ODD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  -0,
  1.5,
  1e308,
  -1e308,
  2 ** 53,
  '',
  'NaN',
  'Infinity',
  '-1',
  '18446744073709551616',
  '9007199254740993',
  'x'.repeat(70),
  'x'.repeat(9000),
  'crane-07_A',
  'vibration',
  'AWAKE',
  'ERROR',
  '0b6a4c2e-8f1d-4e3a-9c5b-7d2e1f0a3b4c',
  '\u0000',
  '\u{1F600}',
  [],
  [1, 2],
  ['a'],
  {},
  { lat: 91, lon: 0 },
  { lat: 1, lon: 2 },
];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function randomBytes(random: () => number, max: number): Buffer {
  const b = Buffer.alloc(Math.floor(random() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(random() * 256);
  return b;
}

function mutateBytes(random: () => number, src: Buffer): Buffer {
  const b = Buffer.from(src);
  switch (Math.floor(random() * 5)) {
    case 0: {
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips && b.length > 0; i++) {
        const bit = Math.floor(random() * b.length * 8);
        b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
      }
      return b;
    }
    case 1:
      return Buffer.concat([b.subarray(0, Math.floor(random() * b.length)), randomBytes(random, 8)]);
    case 2: {
      const at = Math.floor(random() * (b.length + 1));
      return Buffer.concat([b.subarray(0, at), randomBytes(random, 16), b.subarray(at)]);
    }
    case 3: {
      const at = Math.floor(random() * b.length);
      const len = Math.floor(random() * 8);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
    }
    default: {
      const other = pick(random, ALL_FIXTURE_BYTES);
      return Buffer.concat([
        b.subarray(0, Math.floor(random() * b.length)),
        other.subarray(Math.floor(random() * other.length)),
      ]);
    }
  }
}

/** Replaces, deletes or adds one value somewhere in a JSON tree. */
function mutateJson(random: () => number, value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 4 || random() < 0.2) {
    return pick(random, ODD_VALUES);
  }
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length === 0 || random() < 0.2) copy.push(pick(random, ODD_VALUES));
    else {
      const i = Math.floor(random() * copy.length);
      copy[i] = mutateJson(random, copy[i], depth + 1);
    }
    return copy;
  }
  const obj = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(obj);
  const r = random();
  if (keys.length === 0 || r < 0.1) obj[pick(random, ['unknownField', 'extra', '__proto__x'])] = 1;
  else if (r < 0.25) delete obj[pick(random, keys)];
  else {
    const k = pick(random, keys);
    obj[k] = mutateJson(random, obj[k], depth + 1);
  }
  return obj;
}

function input(random: () => number, t: Target, i: number): { body: Buffer; contentType: string } {
  const fixture = pick(random, t.fixtures);
  switch (i % 7) {
    case 0:
      return { body: randomBytes(random, 256), contentType: CONTENT_TYPE_PROTOBUF };
    case 1:
    case 2:
      return { body: mutateBytes(random, t.codec.encode(fixture)), contentType: CONTENT_TYPE_PROTOBUF };
    case 3:
    case 4: {
      const json = JSON.parse(t.codec.encode(fixture, CONTENT_TYPE_JSON).toString('utf8')) as unknown;
      let m = mutateJson(random, json);
      if (random() < 0.3) m = mutateJson(random, m);
      return { body: Buffer.from(JSON.stringify(m) ?? 'null'), contentType: CONTENT_TYPE_JSON };
    }
    case 5: {
      // a mutated domain object through the encoder (which validates too), else its JSON form
      const m = mutateJson(random, fixture);
      try {
        return { body: t.codec.encode(m), contentType: CONTENT_TYPE_PROTOBUF };
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        return { body: Buffer.from(JSON.stringify(m) ?? 'null'), contentType: CONTENT_TYPE_JSON };
      }
    }
    default: {
      const s = randomBytes(random, 120).toString('latin1');
      return { body: Buffer.from(random() < 0.5 ? `{${s}}` : s), contentType: CONTENT_TYPE_JSON };
    }
  }
}

/**
 * Equal messages: the same fields with equal values, numbers compared with `===` (so -0 equals 0: JSON has
 * no negative zero, and a value of -0 is the same measurement as 0).
 */
export function equivalent(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => equivalent((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function fuzzCodec(t: Target, o: FuzzOptions, problems: string[]): FuzzTargetResult {
  const random = prng(o.seed ^ (t.name.length * 0x9e3779b1));
  const opts = { nowUs: FIXTURE_NOW_US };
  const out: FuzzTargetResult = { decoder: t.name, inputs: 0, accepted: 0, rejected: 0 };
  const problem = (s: string): void => {
    if (problems.length < 20) problems.push(`${t.name}: ${s}`);
  };
  for (let i = 0; i < o.iterations; i++) {
    let generated: { body: Buffer; contentType: string };
    try {
      generated = input(random, t, i);
    } catch (err) {
      problem(`encode threw a non-ProtocolError on a mutated object: ${describe(err)}`);
      continue;
    }
    out.inputs++;
    let decoded: unknown;
    try {
      decoded = t.codec.decode(generated.body, generated.contentType, opts);
    } catch (err) {
      if (err instanceof ProtocolError && err.permanent === true) out.rejected++;
      else
        problem(
          `decode threw ${describe(err)} on ${generated.contentType} ${generated.body.toString('base64').slice(0, 200)}`,
        );
      continue;
    }
    out.accepted++;
    try {
      const again = t.codec.decode(t.codec.encode(decoded), CONTENT_TYPE_PROTOBUF, opts);
      if (!equivalent(again, decoded))
        problem(`protobuf re-encoding is not equivalent: ${JSON.stringify(decoded)?.slice(0, 300)}`);
      const viaJson = t.codec.decode(t.codec.encode(decoded, CONTENT_TYPE_JSON), CONTENT_TYPE_JSON, opts);
      if (!equivalent(viaJson, decoded))
        problem(`JSON re-encoding is not equivalent: ${JSON.stringify(decoded)?.slice(0, 300)}`);
    } catch (err) {
      problem(
        `an accepted message does not re-encode: ${describe(err)}: ${JSON.stringify(decoded)?.slice(0, 300)}`,
      );
    }
  }
  return out;
}

const KEY_WORDS = [
  'sensor',
  'crane-07_A',
  'pump_3',
  'data',
  'logs',
  'state',
  'acks',
  'commands',
  'sleep',
  'awake',
  'changesamplefrequency',
  'alarms',
  'raised',
  'cleared',
  '',
  '*',
  '#',
  'x'.repeat(65),
  'é',
  'SENSOR',
];

function fuzzRoutingKeys(o: FuzzOptions, problems: string[]): FuzzTargetResult {
  const random = prng(o.seed ^ 0x51);
  const out: FuzzTargetResult = { decoder: 'parseRoutingKey', inputs: 0, accepted: 0, rejected: 0 };
  for (let i = 0; i < o.iterations; i++) {
    const n = 1 + Math.floor(random() * 5);
    const words = Array.from({ length: n }, () =>
      random() < 0.85 ? pick(random, KEY_WORDS) : randomBytes(random, 6).toString('latin1'),
    );
    if (random() < 0.7) words[0] = 'sensor';
    const key = words.join('.');
    out.inputs++;
    try {
      const p = parseRoutingKey(key);
      out.accepted++;
      const rebuilt =
        p.kind === 'command'
          ? routingKeys.command(p.serial, p.commandType)
          : p.kind === 'alarm'
            ? routingKeys.alarm(p.serial, p.transition)
            : routingKeys[p.kind](p.serial);
      if (rebuilt !== key && problems.length < 20)
        problems.push(`parseRoutingKey: ${key} rebuilds as ${rebuilt}`);
    } catch (err) {
      if (err instanceof ProtocolError) out.rejected++;
      else if (problems.length < 20)
        problems.push(`parseRoutingKey threw ${describe(err)} on ${JSON.stringify(key)}`);
    }
  }
  return out;
}

function fuzzSerials(o: FuzzOptions, problems: string[]): FuzzTargetResult {
  const random = prng(o.seed ^ 0x52);
  const out: FuzzTargetResult = { decoder: 'assertSerial', inputs: 0, accepted: 0, rejected: 0 };
  const alphabet = 'abcXYZ019_-.*# é\u0000/';
  for (let i = 0; i < o.iterations; i++) {
    const len = Math.floor(random() * 70);
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(random() * alphabet.length)];
    const value: unknown = random() < 0.02 ? pick(random, ODD_VALUES) : s;
    out.inputs++;
    try {
      const r = assertSerial(value as string);
      out.accepted++;
      if (r !== value || !isValidSerial(r))
        problems.push(`assertSerial accepted ${JSON.stringify(value)} inconsistently`);
    } catch (err) {
      if (err instanceof ProtocolError) {
        out.rejected++;
        if (isValidSerial(value as string) && problems.length < 20)
          problems.push(`assertSerial rejected ${JSON.stringify(value)} that isValidSerial accepts`);
      } else if (problems.length < 20) problems.push(`assertSerial threw ${describe(err)}`);
    }
  }
  return out;
}

function fuzzContentTypes(o: FuzzOptions, problems: string[]): FuzzTargetResult {
  const random = prng(o.seed ^ 0x53);
  const out: FuzzTargetResult = { decoder: 'wireFormatOf', inputs: 0, accepted: 0, rejected: 0 };
  const parts = [
    'application/json',
    'application/x-protobuf',
    'APPLICATION/JSON',
    'text/plain',
    ';',
    ' charset=utf-8',
    '',
    ' ',
  ];
  for (let i = 0; i < o.iterations; i++) {
    const value: unknown =
      random() < 0.05
        ? pick(random, ODD_VALUES)
        : Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
            random() < 0.8 ? pick(random, parts) : randomBytes(random, 8).toString('latin1'),
          ).join('');
    out.inputs++;
    try {
      const f = wireFormatOf(value as string);
      out.accepted++;
      if (f !== 'json' && f !== 'protobuf' && problems.length < 20)
        problems.push(`wireFormatOf returned ${String(f)}`);
    } catch (err) {
      if (err instanceof ProtocolError) out.rejected++;
      else if (problems.length < 20)
        problems.push(`wireFormatOf threw ${describe(err)} on ${JSON.stringify(value)}`);
    }
  }
  return out;
}

/** Runs every decoder and validator through `iterations` generated inputs each. */
export function fuzzProtocol(o: FuzzOptions): FuzzReport {
  const problems: string[] = [];
  const results = TARGETS.map((t) => fuzzCodec(t, o, problems));
  results.push(fuzzRoutingKeys(o, problems), fuzzSerials(o, problems), fuzzContentTypes(o, problems));
  return { results, problems };
}
