import { type CommonConfig, readCommonConfig, readEnv } from '@sensor-streaming/runtime';
import { type IngestConfig, readIngestConfig } from '@sensor-streaming/ingest';

export const SERVICE_NAME = 'measurements-ingester';

export interface MeasurementsIngesterConfig extends CommonConfig {
  ingest: IngestConfig;
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
  r.done();
  return { ...common, ingest };
}
