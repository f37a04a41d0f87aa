import { runService } from '@sensor-streaming/runtime';
import { loadConfig, SERVICE_NAME } from './config.js';
import { createSimulator } from './simulator.js';

await runService({
  name: SERVICE_NAME,
  loadConfig,
  build: ({ config, logger, registry }) => createSimulator({ config, logger, registry }),
  deadlineMs: 20_000,
});
