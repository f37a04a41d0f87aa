export type { BackoffOptions } from './backoff.js';
export { backoffDelay } from './backoff.js';
export type {
  BatchConsumeSpec,
  Bus,
  BusEvent,
  BusOptions,
  ConsumeSpec,
  MultiConsumeSpec,
  PublishOptions,
  RpcCallOptions,
  RpcRequest,
  RpcServeOptions,
} from './bus.js';
export { createBus } from './bus.js';
export type { BatchOutcome, Consumer } from './consumer.js';
export type { Delivery } from './delivery.js';
export type { MultiConsumer } from './multi-consumer.js';
export {
  type DeadLetter,
  type DeadLetterQueue,
  type DeadLetterScan,
  describeDeadLetter,
  openDeadLetterQueue,
} from './dead-letters.js';
export {
  BusClosedError,
  type ConnectErrorDescription,
  type ConnectFailure,
  describeConnectError,
  BusDisconnectedError,
  DependencyUnavailableError,
  isPermanentError,
  isReleaseError,
  PublishBufferFullError,
  PublishNackedError,
  PublishRefusedError,
  PublishTimeoutError,
  RpcRemoteError,
  RpcTimeoutError,
  UnroutableError,
} from './errors.js';
export type { BusLogger } from './logger.js';
export { DIRECT_REPLY_TO, HEADER_RPC_ERROR, HEADER_RPC_ERROR_CODE } from './rpc-client.js';
export type { QueueDeclarations, QueueSpec, TopologyDefinitions } from './topology.js';
export {
  commandQueue,
  DEFAULT_DELIVERY_LIMIT,
  HEADER_DELIVERY_COUNT,
  HEADER_ORIGINAL_CONTENT_TYPE,
  HEADER_ORIGINAL_EXCHANGE,
  HEADER_ORIGINAL_QUEUE,
  HEADER_ORIGINAL_ROUTING_KEY,
  HEADER_ORIGINAL_USER_ID,
  HEADER_REASON,
  HEADER_RELEASED,
  BASE_TOPOLOGY,
  baseTopologyDefinitions,
  queueDeclarations,
  queueDeclareOptions,
  queueDefinitions,
  serviceQueue,
} from './topology.js';
export { amqpSocketOptions, type ConnectSocketOptions } from './connection.js';
export { maskUrl, urlUser } from './url.js';
