/** A `mandatory` publish was returned by the broker: no queue is bound to its routing key. */
export class UnroutableError extends Error {
  readonly code = 'BUS_UNROUTABLE';
  readonly exchange: string;
  readonly routingKey: string;
  readonly replyCode: number;
  readonly replyText: string;
  constructor(exchange: string, routingKey: string, replyCode: number, replyText: string) {
    super(
      `message to '${routingKey}' on exchange '${exchange || '(default)'}' is unroutable: ${replyCode} ${replyText}`,
    );
    this.name = 'UnroutableError';
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.replyCode = replyCode;
    this.replyText = replyText;
  }
}

/** The bus was stopped (or never started) while the operation was pending. */
export class BusClosedError extends Error {
  readonly code = 'BUS_CLOSED';
  constructor(message = 'the bus is stopped') {
    super(message);
    this.name = 'BusClosedError';
  }
}

/** The broker refused a publish (basic.nack), e.g. a quorum queue at its length limit with `reject-publish`. */
export class PublishNackedError extends Error {
  readonly code = 'BUS_PUBLISH_NACKED';
  readonly routingKey: string;
  constructor(routingKey: string) {
    super(`the broker refused (nacked) the message to '${routingKey}'`);
    this.name = 'PublishNackedError';
    this.routingKey = routingKey;
  }
}

/** A publish could not be confirmed within `publishTimeoutMs` (typically: broker unreachable for that long). */
export class PublishTimeoutError extends Error {
  readonly code = 'BUS_PUBLISH_TIMEOUT';
  readonly routingKey: string;
  constructor(routingKey: string, timeoutMs: number) {
    super(`the message to '${routingKey}' was not confirmed by the broker within ${timeoutMs} ms`);
    this.name = 'PublishTimeoutError';
    this.routingKey = routingKey;
  }
}

/** Too many publishes waiting (broker down or blocked for a long time): back off and retry later. */
export class PublishBufferFullError extends Error {
  readonly code = 'BUS_BUFFER_FULL';
  constructor(limit: number) {
    super(`too many unconfirmed publishes buffered (limit ${limit}); the broker is unreachable or blocked`);
    this.name = 'PublishBufferFullError';
  }
}

/** rpcCall got no reply within its timeout. */
export class RpcTimeoutError extends Error {
  readonly code = 'BUS_RPC_TIMEOUT';
  readonly routingKey: string;
  readonly timeoutMs: number;
  constructor(routingKey: string, timeoutMs: number) {
    super(`no reply to the request on '${routingKey}' within ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
    this.routingKey = routingKey;
    this.timeoutMs = timeoutMs;
  }
}

/** The RPC server's handler failed; `message` is its error message. */
export class RpcRemoteError extends Error {
  readonly code = 'BUS_RPC_REMOTE';
  readonly remoteCode: string | undefined;
  constructor(message: string, remoteCode: string | undefined) {
    super(message);
    this.name = 'RpcRemoteError';
    this.remoteCode = remoteCode;
  }
}

/**
 * The broker closed the channel because of this publish: ACCESS_REFUSED (the user may not write to that
 * exchange or routing key) or PRECONDITION_FAILED (a `user_id` that is not the connection's user). Retrying
 * cannot help: the user's permissions must change. `brokerMessage` is the broker's own text, which names
 * the user and the resource.
 */
export class PublishRefusedError extends Error {
  readonly code = 'BUS_PUBLISH_REFUSED';
  readonly permanent = true;
  readonly exchange: string;
  readonly routingKey: string;
  readonly replyCode: number;
  readonly brokerMessage: string;
  constructor(exchange: string, routingKey: string, replyCode: number, brokerMessage: string) {
    super(
      `the broker refused the message to '${routingKey}' on '${exchange || '(default)'}': ${brokerMessage}`,
    );
    this.name = 'PublishRefusedError';
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.replyCode = replyCode;
    this.brokerMessage = brokerMessage;
  }
}

/** What a channel closed by the broker says about the publishes on it (see refusalOf). */
export type ChannelRefusal =
  | { kind: 'topic'; exchange: string; routingKey: string; replyCode: number; text: string }
  | { kind: 'exchange'; exchange: string; replyCode: number; text: string }
  | { kind: 'user_id'; replyCode: number; text: string };

/**
 * Reads a channel error from amqplib (`Channel closed by server: 403 (ACCESS-REFUSED) with message
 * "ACCESS_REFUSED - ..."`) as a refusal of publishes: which ones it hits (one routing key on an exchange,
 * a whole exchange, or every publish carrying a user_id). Undefined for anything else (the channel is
 * then reopened and the publishes re-sent, as for any loss).
 */
export function refusalOf(err: unknown): ChannelRefusal | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  const quoted = /with message "(.*)"$/s.exec(err.message);
  const text = quoted?.[1] ?? err.message;
  if (code === 403) {
    const topic = /access to topic '(.*)' in exchange '(.*)' in vhost/.exec(text);
    if (topic) return { kind: 'topic', routingKey: topic[1]!, exchange: topic[2]!, replyCode: 403, text };
    const exchange = /access to exchange '(.*)' in vhost/.exec(text);
    if (exchange) {
      const name = exchange[1] === 'amq.default' ? '' : exchange[1]!;
      return { kind: 'exchange', exchange: name, replyCode: 403, text };
    }
    return undefined;
  }
  if (code === 406 && /user_id property set to/.test(text)) return { kind: 'user_id', replyCode: 406, text };
  return undefined;
}

/** The connection carrying an RPC call was lost before the reply came back. */
export class BusDisconnectedError extends Error {
  readonly code = 'BUS_DISCONNECTED';
  constructor(message = 'the connection to the broker was lost') {
    super(message);
    this.name = 'BusDisconnectedError';
  }
}

/**
 * Thrown by a handler when a dependency it needs (the database) is unavailable, not because of the message.
 * The bus gives the messages back to their queue as fresh copies (the copy is confirmed, then the original
 * is acked), so an outage, however long and however many restarts it spans, never counts against the
 * queue's delivery limit and never dead-letters good data. Compare a permanent error (dead-lettered at once)
 * and any other error (requeued, counted by the broker, dead-lettered at the delivery limit).
 */
export class DependencyUnavailableError extends Error {
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  readonly release = true;
  override readonly name = 'DependencyUnavailableError';
}

/** True for DependencyUnavailableError (or any error carrying `release: true`). */
export function isReleaseError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { release?: unknown }).release === true;
}

/** True when an error says "retrying cannot help" (see docs/internal-api.md). */
export function isPermanentError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/** A short, single-line reason for a failed message, for the dead-letter header. */
export function errorReason(err: unknown): string {
  let text: string;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    text = typeof code === 'string' && code !== '' ? `${code}: ${err.message}` : err.message || err.name;
  } else {
    text = String(err);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text;
}

export type ConnectFailure =
  | 'BUS_CONNECTION_REFUSED'
  | 'BUS_HOST_NOT_FOUND'
  | 'BUS_CONNECT_TIMEOUT'
  | 'BUS_ACCESS_REFUSED'
  | 'BUS_VHOST_REFUSED'
  | 'BUS_TLS_UNTRUSTED'
  | 'BUS_TLS_FAILED'
  | 'BUS_CONNECT_FAILED';

export interface ConnectErrorDescription {
  code: ConnectFailure;
  /** One line for an operator, e.g. `access refused: wrong user name or password`. */
  message: string;
  /** Retrying the same URL cannot help without someone changing something (credentials, vhost, a started broker). */
  definite: boolean;
}

/**
 * What a failed connect attempt means, in words an operator can act on. amqplib reports a missing vhost (or
 * a user without access to it) as `Expected ConnectionOpenOk; got <ConnectionClose channel:0>`.
 */
/** Node's codes for a server certificate that does not chain to a trusted CA or is not valid now. */
const TLS_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

export function describeConnectError(err: unknown, url: string): ConnectErrorDescription {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  let vhost = '/';
  try {
    const path = new URL(url).pathname;
    if (path.length > 1) vhost = decodeURIComponent(path.slice(1));
  } catch {
    // keep '/'
  }
  if (code === 'ECONNREFUSED')
    return { code: 'BUS_CONNECTION_REFUSED', message: 'connection refused', definite: true };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { code: 'BUS_HOST_NOT_FOUND', message: 'host not found', definite: true };
  }
  if (typeof code === 'string' && TLS_UNTRUSTED.has(code)) {
    return {
      code: 'BUS_TLS_UNTRUSTED',
      message: `the broker's TLS certificate is not trusted (${code}): set TLS_CA_FILE to the CA that signed it`,
      definite: true,
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      code: 'BUS_TLS_UNTRUSTED',
      message: `the broker's TLS certificate does not name this host: ${message.split('\n')[0]}`,
      definite: true,
    };
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return {
      code: 'BUS_TLS_FAILED',
      message: 'the port does not speak TLS (amqps:// to a plain AMQP port?)',
      definite: true,
    };
  }
  if (typeof code === 'string' && /^ERR_SSL_/.test(code)) {
    return {
      code: 'BUS_TLS_FAILED',
      message: `TLS handshake failed: ${message.split('\n')[0]}`,
      definite: true,
    };
  }
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return { code: 'BUS_CONNECT_TIMEOUT', message: 'connection timed out', definite: false };
  }
  if (/ACCESS.REFUSED|\b403\b/.test(message)) {
    return {
      code: 'BUS_ACCESS_REFUSED',
      message: 'access refused: wrong user name or password',
      definite: true,
    };
  }
  if (/ConnectionOpenOk; got <ConnectionClose|NOT.ALLOWED|\b530\b/.test(message)) {
    return {
      code: 'BUS_VHOST_REFUSED',
      message: `vhost ${JSON.stringify(vhost)} does not exist or this user may not use it`,
      definite: true,
    };
  }
  return { code: 'BUS_CONNECT_FAILED', message: message.split('\n')[0] ?? message, definite: false };
}
