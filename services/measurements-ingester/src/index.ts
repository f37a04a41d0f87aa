export {
  type BatchPipeline,
  type BatchPipelineOptions,
  createBatchPipeline,
  PipelineStoppedError,
  RoutingMismatchError,
} from '@sensor-streaming/ingest';
export { loadConfig, type MeasurementsIngesterConfig, SERVICE_NAME } from './config.js';
export { type IngestConfig, type IngestDefaults, readIngestConfig } from '@sensor-streaming/ingest';
export {
  createMeasurementsIngester,
  decodeDataDelivery,
  type MeasurementsIngester,
  type MeasurementsIngesterDeps,
} from './measurements-ingester.js';
export { createMeasurementsIngestMetrics, type MeasurementsIngestMetrics } from './metrics.js';
