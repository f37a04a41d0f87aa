import { type CommonConfig, readCommonConfig, readEnv } from '@sensor-streaming/runtime';
import { type IngestConfig, readIngestConfig } from '@sensor-streaming/ingest';

export const SERVICE_NAME = 'logs-ingester';

export interface LogsIngesterConfig extends CommonConfig {
  ingest: IngestConfig;
}

/** Validates every variable at once; throws one ConfigError listing each bad one. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LogsIngesterConfig {
  const r = readEnv(env);
  const common = readCommonConfig(r, SERVICE_NAME);
  const ingest = readIngestConfig(r, {
    queue: SERVICE_NAME,
    maxBatchMessages: 100,
    maxBatchWaitMs: 200,
    writeConcurrency: 1,
  });
  r.done();
  return { ...common, ingest };
}
