export { loadConfig, type RegistrySettings, SERVICE_NAME, type SensorRegistryConfig } from './config.js';
export {
  decodeRegistryDelivery,
  kindOfRoutingKey,
  type RegistryMessage,
  RegistryMessageError,
} from './decode.js';
export {
  createExpiredCommandsHandler,
  death,
  EXPIRED_IN_QUEUE_REASON,
  expiredCommandsQueue,
  expiredInSensorQueue,
} from './expired-commands.js';
export { createMessageProcessor, desiredFromCommands, type MessageProcessor } from './message-processor.js';
export { createRegistryMetrics, type RegistryMetrics } from './metrics.js';
export { createReconciler, RECONCILE_ISSUER, type Reconciler, reconcileRequests } from './reconciler.js';
export { createRegistryRpcHandler, RegistryError, toCommandRecord, toSensorSummary } from './rpc-handler.js';
export {
  createSensorRegistry,
  type SensorRegistry,
  type SensorRegistryDeps,
  type SweepResult,
} from './sensor-registry.js';
