import { runService } from '@sensor-streaming/runtime';
import { loadConfig, SERVICE_NAME } from './config.js';
import { createMeasurementsIngester } from './measurements-ingester.js';

await runService({
  name: SERVICE_NAME,
  loadConfig,
  build: (ctx) => createMeasurementsIngester(ctx),
});
