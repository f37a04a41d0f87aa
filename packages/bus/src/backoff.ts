// The backoff lives in @sensor-streaming/runtime (one copy for the bus, the
// ingest pipeline and the migrate CLI); re-exported for this package's modules.
export { abortableSleep, type BackoffOptions, backoffDelay } from '@sensor-streaming/runtime';
