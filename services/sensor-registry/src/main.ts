import { runService } from '@sensor-streaming/runtime';
import { loadConfig, SERVICE_NAME } from './config.js';
import { createSensorRegistry } from './sensor-registry.js';

await runService({
  name: SERVICE_NAME,
  loadConfig,
  build: (ctx) => createSensorRegistry(ctx),
});
