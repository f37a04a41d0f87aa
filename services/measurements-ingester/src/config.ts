import { type CommonConfig, readCommonConfig, readEnv } from '@sensor-streaming/runtime';
import { type IngestConfig, readIngestConfig } from '@sensor-streaming/ingest';

export const SERVICE_NAME = 'measurements-ingester';

export interface MeasurementsIngesterConfig extends CommonConfig {
  ingest: IngestConfig;
  /** STORAGE_MAINTENANCE_INTERVAL (default 1m, 0 = off): plain PostgreSQL partitions, rollups, retention. */
  storageMaintenanceMs: number;
}

/** Validates every variable at once; throws one ConfigError listing each bad one. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): MeasurementsIngesterConfig {
  const r = readEnv(env);
  const common = readCommonConfig(r, SERVICE_NAME);
  const ingest = readIngestConfig(r, {
    queue: SERVICE_NAME,
    maxBatchMessages: 20,
    maxBatchWaitMs: 100,
    writeConcurrency: 2,
  });
  const storageMaintenanceMs = r.duration('STORAGE_MAINTENANCE_INTERVAL', 60_000, { min: 0 });
  r.done();
  return { ...common, ingest, storageMaintenanceMs };
}
