import { runService } from '@sensor-streaming/runtime';
import { loadConfig, SERVICE_NAME } from './config.js';
import { createLogsIngester } from './logs-ingester.js';

await runService({
  name: SERVICE_NAME,
  loadConfig,
  build: (ctx) => createLogsIngester(ctx),
});
