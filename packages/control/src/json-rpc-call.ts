import {
  type Bus,
  PublishRefusedError,
  RpcRemoteError,
  RpcTimeoutError,
  UnroutableError,
} from '@sensor-streaming/bus';
import { CONTENT_TYPE_JSON } from '@sensor-streaming/protocol';
import { ControlError } from './control-error.js';

/** Who answers on an RPC queue, for error messages an operator can act on. */
export interface RpcPeer {
  queue: string;
  /** The routing key to send on, when it is not the queue's name (e.g. the alarm service's read-only key). */
  routingKey?: string;
  /** e.g. "the sensor registry" */
  label: string;
  /** e.g. "sensor-registry" */
  service: string;
  /** Code prefix: CONTROL_<prefix>_UNAVAILABLE / _FAILED. */
  codePrefix: string;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request the server refuses: ControlError CONTROL_BAD_REQUEST naming the field. */
export function badRequest(field: string, reason: string): never {
  throw new ControlError('CONTROL_BAD_REQUEST', `${field}: ${reason}`);
}

/**
 * The envelope every RPC server here receives: a JSON object `{method, params?}` with object params.
 * Throws ControlError (permanent) naming what is wrong; the method is checked by the caller.
 */
export function parseRpcEnvelope(body: Buffer): { method: unknown; params: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    badRequest('body', 'is not valid JSON');
  }
  if (!isRecord(raw)) badRequest('body', 'must be a JSON object');
  const params = raw.params === undefined ? {} : raw.params;
  if (!isRecord(params)) badRequest('params', 'must be an object');
  return { method: raw.method, params };
}

/**
 * One request/reply over the bus with our JSON envelope (`{ok, result}` or `{ok:false, error}`).
 * Every way it can fail becomes a ControlError naming the peer.
 */
export async function callJsonRpc<T>(
  bus: Bus,
  peer: RpcPeer,
  request: unknown,
  timeoutMs: number,
): Promise<T> {
  let reply: Awaited<ReturnType<Bus['rpcCall']>>;
  try {
    reply = await bus.rpcCall(peer.routingKey ?? peer.queue, Buffer.from(JSON.stringify(request), 'utf8'), {
      timeoutMs,
      contentType: CONTENT_TYPE_JSON,
    });
  } catch (err) {
    if (err instanceof RpcTimeoutError) {
      throw new ControlError(
        `CONTROL_${peer.codePrefix}_UNAVAILABLE`,
        `${peer.label} did not answer within ${timeoutMs} ms (is ${peer.service} running?)`,
      );
    }
    if (err instanceof UnroutableError) {
      throw new ControlError(
        `CONTROL_${peer.codePrefix}_UNAVAILABLE`,
        `nobody serves ${peer.queue} on this broker/vhost (is ${peer.service} running?)`,
      );
    }
    if (err instanceof PublishRefusedError) {
      // this user's role may not send it (ACCESS_REFUSED), or its user_id is not the connection's
      throw new ControlError(
        'CONTROL_REFUSED',
        `the broker refused the request to ${peer.label}: ${err.brokerMessage}`,
      );
    }
    if (err instanceof RpcRemoteError) {
      throw new ControlError(
        err.remoteCode ?? `CONTROL_${peer.codePrefix}_FAILED`,
        `${peer.label}: ${err.message}`,
      );
    }
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.body.toString('utf8'));
  } catch {
    throw new ControlError('CONTROL_BAD_RESPONSE', `${peer.label} answered with invalid JSON`);
  }
  if (!isRecord(parsed) || typeof parsed.ok !== 'boolean') {
    throw new ControlError('CONTROL_BAD_RESPONSE', `${peer.label} answered without an ok field`);
  }
  if (!parsed.ok) {
    const error = parsed.error;
    if (!isRecord(error) || typeof error.message !== 'string') {
      throw new ControlError('CONTROL_BAD_RESPONSE', `${peer.label} answered ok:false without an error`);
    }
    throw new ControlError(
      typeof error.code === 'string' ? error.code : `CONTROL_${peer.codePrefix}_FAILED`,
      error.message,
    );
  }
  return parsed.result as T;
}
