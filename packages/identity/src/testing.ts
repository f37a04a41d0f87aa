// Test and benchmark helpers (the `./testing` subpath): a RabbitMQ node of one's own.
export {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
  type ThrowawayBrokerOptions,
  type ThrowawayPorts,
} from './security/throwaway-broker.js';
