// Test and benchmark helpers (the `./testing` subpath): a RabbitMQ node of one's own.
export {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
  type ThrowawayBrokerOptions,
} from './security/throwaway-broker.js';
