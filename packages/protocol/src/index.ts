export { alarmCodec } from './alarm-codec.js';
export { type Codec, type WireFormat, wireFormatOf } from './codec.js';
export { commandAckCodec } from './command-ack-codec.js';
export { commandCodec } from './command-codec.js';
export {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  DEAD_LETTER_REASON_HEADER,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_MESSAGE_BYTES,
  EXCHANGE,
  REJECTED_EXCHANGE,
} from './constants.js';
export type {
  AckStatus,
  Alarm,
  AlarmSeverity,
  AlarmTransition,
  Command,
  CommandAck,
  GeoPoint,
  LogBatch,
  LogEntry,
  LogLevel,
  MeasurementBatch,
  PowerState,
  SensorState,
  StateReason,
} from './domain-types.js';
export { logBatchCodec } from './log-batch-codec.js';
export { measurementBatchCodec } from './measurement-batch-codec.js';
export { isProtocolError, ProtocolError } from './protocol-error.js';
export {
  ALARM_ROUTING_TRANSITIONS,
  type AlarmRoutingTransition,
  bindingPatterns,
  COMMAND_TYPES,
  type CommandType,
  commandBindingPattern,
  commandQueueName,
  isCommandType,
  type ParsedRoutingKey,
  parseRoutingKey,
  routingKeys,
} from './routing-keys.js';
export { sampleTimesUs } from './sample-times.js';
export { MAX_SHARDS, releaseExchangeName, shardExchangeName, shardQueueName } from './shard-names.js';
export { sensorStateCodec } from './sensor-state-codec.js';
export { assertSerial, isValidSerial, SERIAL_PATTERN } from './serial.js';
export { type DecodeOptions, MAX_CLOCK_AHEAD_US, MIN_TIME_NS } from './validation.js';
