export {
  type BatchPipeline,
  type BatchPipelineOptions,
  createBatchPipeline,
  PipelineStoppedError,
  RoutingMismatchError,
} from './batch-pipeline.js';
export {
  type IngestConfig,
  loadConfig,
  type MeasurementsIngesterConfig,
  readIngestConfig,
  SERVICE_NAME,
} from './config.js';
export {
  createMeasurementsIngester,
  decodeDataDelivery,
  type MeasurementsIngester,
  type MeasurementsIngesterDeps,
} from './measurements-ingester.js';
export { createMeasurementsIngestMetrics, type MeasurementsIngestMetrics } from './metrics.js';
