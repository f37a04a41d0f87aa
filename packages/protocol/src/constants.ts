/** The one durable topic exchange every message is published on. */
export const EXCHANGE = 'sensor_streaming';
/** Topic exchange receiving what cannot be processed. */
export const DEAD_LETTER_EXCHANGE = 'sensor_streaming.dlx';
/** Queue bound to {@link DEAD_LETTER_EXCHANGE} with `#`, and to {@link REJECTED_EXCHANGE}. */
export const DEAD_LETTER_QUEUE = 'sensor_streaming.dead';
/**
 * Fanout exchange whose only queue is {@link DEAD_LETTER_QUEUE}: where a consumer dead-letters a message
 * itself (with the reason in headers). Not the default exchange: write on `amq.default` would let any
 * service put a message into any queue (a sensor's command queue, say).
 */
export const REJECTED_EXCHANGE = 'sensor_streaming.rejected';
/** Header carrying the reason a message was dead-lettered. */
export const DEAD_LETTER_REASON_HEADER = 'x-sensor-streaming-reason';
export const CONTENT_TYPE_PROTOBUF = 'application/x-protobuf';
export const CONTENT_TYPE_JSON = 'application/json';
/** Default upper bound on values per MeasurementBatch / entries per LogBatch. */
export const DEFAULT_MAX_BATCH_SIZE = 100_000;
/**
 * Largest message body a decoder accepts by default, checked before parsing: 100,000 packed doubles are
 * ~800 kB in protobuf and ~2.5 MB in JSON. Keep the broker's `max_message_size` at or above it.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
