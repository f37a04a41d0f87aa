export {
  DEFAULT_KIND_MIX,
  generateSerials,
  indexFromHostname,
  loadConfig,
  MAX_SENSORS,
  SERVICE_NAME,
  type SimulatorConfig,
  type Transport,
} from './config.js';
export { DEFAULT_FAULT_TIMING, FAULT_KINDS, type FaultKind, type FaultTiming } from './faults.js';
export { buildFleet, type FleetOptions } from './fleet.js';
export { APP_VERSION, ERROR_CODES, type ErrorCode } from './log-codes.js';
export { SITES, type Site } from './position.js';
export { createPrng, hashString, type Prng } from './prng.js';
export { SampleClock, type SampleRun } from './sample-clock.js';
export {
  type CommandOutcome,
  DEFAULT_SENSOR_OPTIONS,
  type SensorOptions,
  type SensorSpec,
  SimulatedSensor,
} from './sensor.js';
export { KINDS } from './signals/index.js';
export { type KindSpec, SENSOR_KINDS, type SensorKind } from './signals/signal-model.js';
export { createSimulator, type Simulator, type SimulatorDeps, type SimulatorStats } from './simulator.js';
export {
  createAmqpTransport,
  createMqttTransport,
  declareMqttForwarding,
  type MessageKind,
  type MqttTransport,
  type MqttTransportOptions,
  mqttTopic,
  type SensorTransport,
} from './transport.js';
