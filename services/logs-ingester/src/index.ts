export { loadConfig, type LogsIngesterConfig, SERVICE_NAME } from './config.js';
export { type IngestConfig, type IngestDefaults, readIngestConfig } from '@sensor-streaming/ingest';
export {
  createLogsIngester,
  decodeLogsDelivery,
  type LogsIngester,
  type LogsIngesterDeps,
} from './logs-ingester.js';
export { createLogsIngestMetrics, type LogsIngestMetrics } from './metrics.js';
