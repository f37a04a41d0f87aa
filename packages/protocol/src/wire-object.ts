import protobuf from 'protobufjs';
import { ProtocolError } from './protocol-error.js';

/**
 * A message in its normalised wire shape, the same whichever encoding it came
 * from: camelCase field names, every field present, int64/uint64 as `bigint`,
 * enums as their proto names (or the raw number when unknown), absent
 * sub-messages as `null`, repeated fields as arrays.
 */
export type WireObject = { [field: string]: unknown };

const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: BigInt,
  enums: String,
  defaults: true,
  arrays: true,
};

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Decodes protobuf bytes; any failure becomes a {@link ProtocolError} on `body`. */
export function wireFromProtobuf(type: protobuf.Type, body: Uint8Array): WireObject {
  let message: protobuf.Message;
  try {
    message = type.decode(body);
  } catch (err) {
    throw new ProtocolError('body', `is not a valid ${type.name} protobuf message (${describe(err)})`, {
      cause: err,
    });
  }
  return type.toObject(message, TO_OBJECT_OPTIONS);
}

/** Parses proto3 JSON (UTF-8) strictly: wrong types and unknown fields are rejected with their path. */
export function wireFromJson(type: protobuf.Type, body: Uint8Array): WireObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    throw new ProtocolError('body', `is not valid UTF-8 JSON (${describe(err)})`, { cause: err });
  }
  return jsonMessage(type, parsed, '');
}

function defaultsOf(type: protobuf.Type): WireObject {
  return type.toObject(type.create(), TO_OBJECT_OPTIONS);
}

function fieldForJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  // Own properties only: `__proto__`, `constructor` and friends are not fields.
  if (Object.hasOwn(type.fields, key)) return type.fields[key];
  // proto3 JSON parsers also accept the original (snake_case) proto field name.
  return type.fieldsArray.find((f) => (f as protobuf.Field & { protoName?: string }).protoName === key);
}

function jsonMessage(type: protobuf.Type, value: unknown, path: string): WireObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError(path === '' ? 'body' : path, `must be a JSON object (${type.name})`);
  }
  const out = defaultsOf(type);
  const seen = new Set<string>();
  for (const [key, raw] of Object.entries(value)) {
    const field = fieldForJsonKey(type, key);
    if (field === undefined) throw new ProtocolError(join(path, key), `is not a field of ${type.name}`);
    const fieldPath = join(path, field.name);
    if (seen.has(field.name)) throw new ProtocolError(fieldPath, 'is given twice');
    seen.add(field.name);
    if (raw === null) continue; // null means the default value
    if (field.repeated) {
      if (!Array.isArray(raw)) throw new ProtocolError(fieldPath, 'must be a JSON array');
      out[field.name] = raw.map((item, i) => jsonValue(field, item, `${fieldPath}[${i}]`));
    } else {
      out[field.name] = jsonValue(field, raw, fieldPath);
    }
  }
  return out;
}

const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);
const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const JSON_NUMBER_STRING = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const JSON_INTEGER_STRING = /^-?\d{1,20}$/;

function jsonValue(field: protobuf.Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return jsonEnum(resolved, value, path);
  if (resolved instanceof protobuf.Type) return jsonMessage(resolved, value, path);
  const t = field.type;
  if (t === 'double' || t === 'float') return jsonFloat(value, path);
  if (INT64_TYPES.has(t)) return jsonInteger(value, path, INT64_MIN, INT64_MAX);
  if (UINT64_TYPES.has(t)) return jsonInteger(value, path, 0n, UINT64_MAX);
  if (INT32_TYPES.has(t)) return Number(jsonInteger(value, path, -(2n ** 31n), 2n ** 31n - 1n));
  if (UINT32_TYPES.has(t)) return Number(jsonInteger(value, path, 0n, 2n ** 32n - 1n));
  if (t === 'string') {
    if (typeof value !== 'string')
      throw new ProtocolError(path, `must be a string, got ${jsonTypeOf(value)}`);
    return value;
  }
  if (t === 'bool') {
    if (typeof value !== 'boolean')
      throw new ProtocolError(path, `must be a boolean, got ${jsonTypeOf(value)}`);
    return value;
  }
  if (t === 'bytes') {
    if (typeof value !== 'string') throw new ProtocolError(path, 'must be a base64 string');
    return Buffer.from(value, 'base64');
  }
  throw new ProtocolError(path, `has unsupported proto type ${t}`);
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function jsonEnum(type: protobuf.Enum, value: unknown, path: string): string {
  if (typeof value === 'string') {
    if (Object.hasOwn(type.values, value)) return value;
    throw new ProtocolError(path, `unknown ${type.name} value ${JSON.stringify(value.slice(0, 64))}`);
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    const name = type.valuesById[value];
    if (name !== undefined) return name;
    throw new ProtocolError(path, `unknown ${type.name} value ${value}`);
  }
  throw new ProtocolError(path, `must be a ${type.name} name or number, got ${jsonTypeOf(value)}`);
}

function jsonFloat(value: unknown, path: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (value === 'NaN') return Number.NaN;
    if (value === 'Infinity') return Number.POSITIVE_INFINITY;
    if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (JSON_NUMBER_STRING.test(value)) return Number(value);
  }
  throw new ProtocolError(path, `must be a number, got ${jsonTypeOf(value)}`);
}

function jsonInteger(value: unknown, path: string, min: bigint, max: bigint): bigint {
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new ProtocolError(path, 'must be an integer (use a decimal string beyond 2^53)');
    }
    n = BigInt(value);
  } else if (typeof value === 'string' && JSON_INTEGER_STRING.test(value)) {
    n = BigInt(value);
  } else {
    throw new ProtocolError(path, `must be an integer or a decimal string, got ${jsonTypeOf(value)}`);
  }
  if (n < min || n > max) throw new ProtocolError(path, `is out of range ${min}..${max}`);
  return n;
}

/**
 * The wire object without default values (proto3 does not send them), int64
 * as decimal strings: the input to both `fromObject` and the JSON encoder.
 */
function canonical(type: protobuf.Type, wire: WireObject): WireObject {
  const out: WireObject = {};
  for (const field of type.fieldsArray) {
    const value = wire[field.name];
    if (value === undefined || value === null) continue;
    if (field.repeated) {
      if (!Array.isArray(value) || value.length === 0) continue;
      out[field.name] = value.map((v) => canonicalValue(field, v));
    } else if (!isDefault(field, value)) {
      out[field.name] = canonicalValue(field, value);
    }
  }
  return out;
}

function canonicalValue(field: protobuf.Field, value: unknown): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return canonical(resolved, value as WireObject);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function isDefault(field: protobuf.Field, value: unknown): boolean {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return false; // presence of a sub-message is meaningful
  if (resolved instanceof protobuf.Enum) return value === resolved.valuesById[0] || value === 0;
  return value === '' || value === 0n || value === false || (value === 0 && !Object.is(value, -0));
}

/** Encodes a (validated) wire object to protobuf bytes, omitting default values. */
export function wireToProtobuf(type: protobuf.Type, wire: WireObject): Buffer {
  const bytes = type.encode(type.fromObject(canonical(type, wire))).finish();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Encodes a (validated) wire object as canonical proto3 JSON (defaults omitted, int64 as strings). */
export function wireToJson(type: protobuf.Type, wire: WireObject): Buffer {
  return Buffer.from(JSON.stringify(canonical(type, wire)), 'utf8');
}
