import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './constants.js';
import { getMessageType } from './proto-root.js';
import { ProtocolError } from './protocol-error.js';
import { type DecodeOptions, type ValidationContext, validationContext } from './validation.js';
import {
  type WireObject,
  wireFromJson,
  wireFromProtobuf,
  wireToJson,
  wireToProtobuf,
} from './wire-object.js';

export interface Codec<T> {
  /** Protobuf message name in sensor.proto, e.g. `MeasurementBatch`. */
  readonly messageName: string;
  /** Validates `msg`, then encodes it (protobuf unless `contentType` is JSON). Throws {@link ProtocolError}. */
  encode(msg: T, contentType?: string): Buffer;
  /** Decodes by content type (missing: protobuf) and validates. Throws {@link ProtocolError}. */
  decode(body: Uint8Array, contentType?: string, opts?: DecodeOptions): T;
}

/** How one message maps between its domain type and its normalised wire object. */
export interface MessageMapping<T> {
  readonly messageName: string;
  /** Domain -> wire; may throw {@link ProtocolError} for values that cannot be represented. */
  toWire(msg: T): WireObject;
  /** Wire -> domain, validating every field. */
  fromWire(wire: WireObject, ctx: ValidationContext): T;
}

export type WireFormat = 'protobuf' | 'json';

/**
 * `application/x-protobuf` or missing -> protobuf, `application/json` -> JSON
 * (parameters such as `; charset=utf-8` are ignored); anything else throws.
 */
export function wireFormatOf(contentType: string | undefined | null): WireFormat {
  if (contentType === undefined || contentType === null) return 'protobuf';
  if (typeof contentType !== 'string') throw new ProtocolError('contentType', 'must be a string');
  const mediaType = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();
  if (mediaType === '' || mediaType === CONTENT_TYPE_PROTOBUF) return 'protobuf';
  if (mediaType === CONTENT_TYPE_JSON) return 'json';
  throw new ProtocolError(
    'contentType',
    `unsupported content type ${JSON.stringify(contentType.slice(0, 100))}; use ${CONTENT_TYPE_PROTOBUF} or ${CONTENT_TYPE_JSON}`,
  );
}

export function createCodec<T>(mapping: MessageMapping<T>): Codec<T> {
  const type = () => getMessageType(mapping.messageName);
  return {
    messageName: mapping.messageName,
    encode(msg: T, contentType?: string): Buffer {
      const format = wireFormatOf(contentType);
      if (msg === null || typeof msg !== 'object') {
        throw new ProtocolError('body', `must be a ${mapping.messageName} object`);
      }
      let wire: WireObject;
      try {
        wire = mapping.toWire(msg);
      } catch (err) {
        if (err instanceof ProtocolError) throw err;
        throw new ProtocolError('body', `is not a valid ${mapping.messageName} (${String(err)})`, {
          cause: err,
        });
      }
      mapping.fromWire(wire, validationContext());
      return format === 'json' ? wireToJson(type(), wire) : wireToProtobuf(type(), wire);
    },
    decode(body: Uint8Array, contentType?: string, opts?: DecodeOptions): T {
      const format = wireFormatOf(contentType);
      if (!(body instanceof Uint8Array))
        throw new ProtocolError('body', 'must be bytes (Buffer or Uint8Array)');
      const ctx = validationContext(opts);
      // checked before any parsing: a 10 MB body costs nothing but this comparison
      if (body.length > ctx.maxBytes) {
        throw new ProtocolError('body', `is ${body.length} bytes, more than the ${ctx.maxBytes} accepted`);
      }
      if (body.length === 0) throw new ProtocolError('body', `is empty; expected a ${mapping.messageName}`);
      const wire = format === 'json' ? wireFromJson(type(), body) : wireFromProtobuf(type(), body);
      return mapping.fromWire(wire, ctx);
    },
  };
}
