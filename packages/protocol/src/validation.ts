import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_MESSAGE_BYTES } from './constants.js';
import type { GeoPoint } from './domain-types.js';
import { ProtocolError } from './protocol-error.js';
import type { WireObject } from './wire-object.js';

/** Options for validating decoded (and to-be-encoded) messages. */
export interface DecodeOptions {
  /** Largest accepted number of values / log entries in one batch; default 100 000. */
  maxBatchSize?: number;
  /** "Now" in µs since the epoch for the timestamp sanity check; default `Date.now() * 1000`. */
  nowUs?: number;
  /** Largest accepted body in bytes, checked before anything is parsed; default 4 MiB (DEFAULT_MAX_MESSAGE_BYTES). */
  maxBytes?: number;
}

export interface ValidationContext {
  readonly maxBatchSize: number;
  readonly nowUs: number;
  readonly maxBytes: number;
}

/** Options are set by our own code, so bad ones are bugs (RangeError), not bad input. */
export function validationContext(opts: DecodeOptions = {}): ValidationContext {
  const maxBatchSize = opts.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  const nowUs = opts.nowUs ?? Date.now() * 1000;
  if (!Number.isSafeInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`DecodeOptions.maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  if (!Number.isFinite(nowUs)) throw new RangeError(`DecodeOptions.nowUs must be finite, got ${nowUs}`);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`DecodeOptions.maxBytes must be a positive integer, got ${maxBytes}`);
  }
  return { maxBatchSize, nowUs, maxBytes };
}

/** 2000-01-01T00:00:00Z in ns: nothing older is a plausible sample time. */
export const MIN_TIME_NS = 946_684_800_000_000_000n;
/** How far ahead of "now" a timestamp may be (sensor clocks drift), in µs. */
export const MAX_CLOCK_AHEAD_US = 24 * 3600 * 1_000_000;

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Channel, kind, label key and the like: a word that is safe in SQL, metrics and file names. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const ERROR_CODE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: we are matching control characters on purpose
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function getString(wire: WireObject, key: string, path: string): string {
  const v = wire[key];
  if (typeof v !== 'string') throw new ProtocolError(join(path, key), 'must be a string');
  return v;
}

/** Free text: no control characters other than tab/newline, at most `max` characters. */
export function getText(
  wire: WireObject,
  key: string,
  path: string,
  max: number,
  opts: { required?: boolean } = {},
): string {
  const v = getString(wire, key, path);
  const field = join(path, key);
  if (opts.required === true && v.length === 0) throw new ProtocolError(field, 'must not be empty');
  if (v.length > max) throw new ProtocolError(field, `must be at most ${max} characters, got ${v.length}`);
  if (CONTROL_CHARS.test(v)) throw new ProtocolError(field, 'must not contain control characters');
  return v;
}

/** A short identifier-like word (channel, kind, label key). */
export function checkName(v: unknown, field: string, opts: { allowEmpty?: boolean } = {}): string {
  if (typeof v !== 'string') throw new ProtocolError(field, 'must be a string');
  if (v === '' && opts.allowEmpty === true) return v;
  if (!NAME_PATTERN.test(v)) {
    throw new ProtocolError(
      field,
      `must match ${NAME_PATTERN.source}, got ${JSON.stringify(v.slice(0, 80))}`,
    );
  }
  return v;
}

export function getName(
  wire: WireObject,
  key: string,
  path: string,
  opts: { allowEmpty?: boolean } = {},
): string {
  return checkName(wire[key], join(path, key), opts);
}

export function getErrorCode(wire: WireObject, key: string, path: string): string {
  const v = getString(wire, key, path);
  if (v !== '' && !ERROR_CODE_PATTERN.test(v)) {
    throw new ProtocolError(join(path, key), `must be empty or match ${ERROR_CODE_PATTERN.source}`);
  }
  return v;
}

export function getUuid(wire: WireObject, key: string, path: string): string {
  const v = getString(wire, key, path);
  if (!UUID_PATTERN.test(v))
    throw new ProtocolError(join(path, key), `must be a uuid, got ${JSON.stringify(v.slice(0, 80))}`);
  return v.toLowerCase();
}

export function checkFinite(v: unknown, field: string): number {
  if (typeof v !== 'number') throw new ProtocolError(field, 'must be a number');
  if (!Number.isFinite(v)) throw new ProtocolError(field, `must be finite, got ${v}`);
  return v;
}

export function getFinite(wire: WireObject, key: string, path: string): number {
  return checkFinite(wire[key], join(path, key));
}

/** A frequency in Hz: finite and >= 0 (0 meaning unknown / not given). */
export function getFrequency(wire: WireObject, key: string, path: string): number {
  const v = getFinite(wire, key, path);
  if (v < 0) throw new ProtocolError(join(path, key), `must be >= 0, got ${v}`);
  return v;
}

export function getBigInt(wire: WireObject, key: string, path: string): bigint {
  const v = wire[key];
  if (typeof v !== 'bigint') throw new ProtocolError(join(path, key), 'must be an integer');
  return v;
}

/** A uint64 that must fit a JS number exactly. */
export function checkSafeUint(v: unknown, field: string): number {
  if (typeof v !== 'bigint') throw new ProtocolError(field, 'must be an integer');
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ProtocolError(field, `must be between 0 and ${Number.MAX_SAFE_INTEGER}, got ${v}`);
  }
  return Number(v);
}

export function getSafeUint(wire: WireObject, key: string, path: string): number {
  return checkSafeUint(wire[key], join(path, key));
}

/** Latest accepted timestamp in ns for this context. */
export function maxTimeNs(ctx: ValidationContext): bigint {
  return (BigInt(Math.floor(ctx.nowUs)) + BigInt(MAX_CLOCK_AHEAD_US)) * 1000n;
}

/**
 * A wire timestamp (int64 ns) as integer µs (rounded half up), after checking
 * it lies between 2000-01-01 and 24 h after `ctx.nowUs`.
 */
export function checkTimeNs(
  v: unknown,
  field: string,
  ctx: ValidationContext,
  upperNs = maxTimeNs(ctx),
): number {
  if (typeof v !== 'bigint')
    throw new ProtocolError(field, 'must be an integer number of ns since the epoch');
  if (v < MIN_TIME_NS) throw new ProtocolError(field, `must not be before 2000-01-01 (got ${v} ns)`);
  if (v > upperNs) throw new ProtocolError(field, `is too far in the future (got ${v} ns)`);
  return nsToUs(v);
}

export function getTimeNs(wire: WireObject, key: string, path: string, ctx: ValidationContext): number {
  return checkTimeNs(wire[key], join(path, key), ctx);
}

/** ns -> µs, rounded half up; exact for any int64. */
export function nsToUs(ns: bigint): number {
  const q = ns / 1000n;
  const r = ns % 1000n;
  if (r >= 500n) return Number(q + 1n);
  if (r < -500n) return Number(q - 1n);
  return Number(q);
}

/** Domain integer µs -> wire ns (exact); throws if `us` is not a safe integer. */
export function usToNs(us: unknown, field: string): bigint {
  if (typeof us !== 'number' || !Number.isSafeInteger(us)) {
    throw new ProtocolError(field, `must be an integer number of µs since the epoch, got ${String(us)}`);
  }
  return BigInt(us) * 1000n;
}

/** Domain non-negative integer -> wire uint64. */
export function toUint64(v: unknown, field: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ProtocolError(field, `must be a non-negative integer, got ${String(v)}`);
  }
  return BigInt(v);
}

export function getArray(wire: WireObject, key: string, path: string): unknown[] {
  const v = wire[key];
  if (!Array.isArray(v)) throw new ProtocolError(join(path, key), 'must be an array');
  return v;
}

export function checkBatchSize(length: number, field: string, ctx: ValidationContext): void {
  if (length < 1) throw new ProtocolError(field, 'must not be empty');
  if (length > ctx.maxBatchSize) {
    throw new ProtocolError(field, `has ${length} items, more than the limit of ${ctx.maxBatchSize}`);
  }
}

/** A sub-message, or undefined when absent. */
export function getMessage(wire: WireObject, key: string, path: string): WireObject | undefined {
  const v = wire[key];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ProtocolError(join(path, key), 'must be a message');
  return v as WireObject;
}

/** Maps a wire enum name (`PREFIX_NAME`) to its domain name; rejects UNSPECIFIED and unknown values. */
export function checkEnum<T extends string>(
  v: unknown,
  field: string,
  byWireName: Readonly<Record<string, T>>,
  opts: { optional?: boolean } = {},
): T | undefined {
  if (typeof v === 'string' && Object.hasOwn(byWireName, v)) return byWireName[v];
  if (opts.optional === true && (v === 0 || (typeof v === 'string' && v.endsWith('_UNSPECIFIED')))) {
    return undefined;
  }
  const known = Object.keys(byWireName).join(', ');
  throw new ProtocolError(field, `must be one of ${known}, got ${JSON.stringify(v)}`);
}

export function getEnum<T extends string>(
  wire: WireObject,
  key: string,
  path: string,
  byWireName: Readonly<Record<string, T>>,
): T {
  return checkEnum(wire[key], join(path, key), byWireName) as T;
}

export function getOptionalEnum<T extends string>(
  wire: WireObject,
  key: string,
  path: string,
  byWireName: Readonly<Record<string, T>>,
): T | undefined {
  return checkEnum(wire[key], join(path, key), byWireName, { optional: true });
}

export function geoFromWire(wire: WireObject, path: string): GeoPoint {
  const lat = getFinite(wire, 'lat', path);
  const lon = getFinite(wire, 'lon', path);
  const altM = getFinite(wire, 'altM', path);
  if (lat < -90 || lat > 90) throw new ProtocolError(join(path, 'lat'), `must be within -90..90, got ${lat}`);
  if (lon < -180 || lon > 180)
    throw new ProtocolError(join(path, 'lon'), `must be within -180..180, got ${lon}`);
  return altM === 0 ? { lat, lon } : { lat, lon, altM };
}

export function geoToWire(p: GeoPoint | undefined): WireObject | null {
  if (p === undefined) return null;
  return { lat: p.lat, lon: p.lon, altM: p.altM ?? 0 };
}
