export {
  type BatchPipeline,
  type BatchPipelineOptions,
  createBatchPipeline,
  PipelineStoppedError,
  RoutingMismatchError,
} from './batch-pipeline.js';
export { loadConfig, type MeasurementsIngesterConfig, SERVICE_NAME } from './config.js';
export { type IngestConfig, type IngestDefaults, readIngestConfig } from './ingest-config.js';
export {
  createMeasurementsIngester,
  decodeDataDelivery,
  type MeasurementsIngester,
  type MeasurementsIngesterDeps,
} from './measurements-ingester.js';
export { createMeasurementsIngestMetrics, type MeasurementsIngestMetrics } from './metrics.js';
