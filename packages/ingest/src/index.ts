export * from './batch-pipeline.js';
export * from './ingest-config.js';
export * from './ingest-consumers.js';
export * from './shard-topology.js';
