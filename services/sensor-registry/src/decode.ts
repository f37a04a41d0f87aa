import type { Delivery } from '@sensor-streaming/bus';
import { actorOf } from '@sensor-streaming/control';
import {
  type Command,
  type CommandAck,
  commandAckCodec,
  commandCodec,
  parseRoutingKey,
  ProtocolError,
  type SensorState,
  sensorStateCodec,
} from '@sensor-streaming/protocol';

export type RegistryMessage =
  | { kind: 'state'; value: SensorState }
  | { kind: 'commands'; value: Command }
  | { kind: 'acks'; value: CommandAck };

/** The bounded reason code of a rejected message, for metrics. */
export type RejectCode = 'invalid' | 'routing_key_mismatch' | 'unexpected_routing_key';

/** A message the registry cannot use: dead-lettered at once (permanent). */
export class RegistryMessageError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: 'REGISTRY_ROUTING_MISMATCH' | 'REGISTRY_UNEXPECTED_ROUTING_KEY',
    message: string,
  ) {
    super(message);
    this.name = 'RegistryMessageError';
  }
}

export function rejectCode(err: unknown): RejectCode {
  if (err instanceof RegistryMessageError) {
    return err.code === 'REGISTRY_ROUTING_MISMATCH' ? 'routing_key_mismatch' : 'unexpected_routing_key';
  }
  return 'invalid';
}

/** The message kind a routing key announces, for metrics (never throws). */
export function kindOfRoutingKey(key: string): 'state' | 'acks' | 'commands' | 'unknown' {
  if (/^sensor\.[^.]+\.state$/.test(key)) return 'state';
  if (/^sensor\.[^.]+\.acks$/.test(key)) return 'acks';
  if (/^sensor\.[^.]+\.commands\.[^.]+$/.test(key)) return 'commands';
  return 'unknown';
}

function mismatch(d: Delivery, serial: string): never {
  throw new RegistryMessageError(
    'REGISTRY_ROUTING_MISMATCH',
    `routing key ${d.routingKey} does not match the message's serial ${serial}`,
  );
}

/**
 * Decodes one delivery of the registry's queue by its routing key (state,
 * acks or commands). Throws ProtocolError or RegistryMessageError (both
 * permanent) for anything invalid, including a message whose serial (or
 * command type) is not the one in its routing key.
 */
export function decodeRegistryDelivery(d: Delivery): RegistryMessage {
  const key = parseRoutingKey(d.routingKey);
  switch (key.kind) {
    case 'state': {
      const value = sensorStateCodec.decode(d.body, d.contentType);
      if (value.serial !== key.serial) mismatch(d, value.serial);
      return { kind: 'state', value };
    }
    case 'acks': {
      const value = commandAckCodec.decode(d.body, d.contentType);
      if (value.serial !== key.serial) mismatch(d, value.serial);
      return { kind: 'acks', value };
    }
    case 'command': {
      const value = commandCodec.decode(d.body, d.contentType);
      if (value.serial !== key.serial) mismatch(d, value.serial);
      if (value.type !== key.commandType) {
        throw new RegistryMessageError(
          'REGISTRY_ROUTING_MISMATCH',
          `routing key ${d.routingKey} carries a command of type ${value.type}`,
        );
      }
      // the author recorded is the one the broker validated (user_id), never the command's own issuedBy
      return { kind: 'commands', value: { ...value, issuedBy: actorOf(d) } };
    }
    default:
      throw new RegistryMessageError(
        'REGISTRY_UNEXPECTED_ROUTING_KEY',
        `the registry does not handle messages on ${d.routingKey}`,
      );
  }
}

/** For the dead-letter header: `CODE: message`. */
export function rejectReason(err: unknown): string {
  if (err instanceof ProtocolError || err instanceof RegistryMessageError)
    return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
