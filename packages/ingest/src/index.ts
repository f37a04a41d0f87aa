export * from './batch-pipeline.js';
export * from './ingest-config.js';
