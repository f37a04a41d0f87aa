import { runService } from '@sensor-streaming/runtime';
import { createAlarmService } from './alarm-service.js';
import { loadConfig } from './config.js';

const running = await runService({
  name: 'alarm-service',
  loadConfig,
  build: (ctx) => {
    const service = createAlarmService(ctx);
    process.on('SIGHUP', () => {
      ctx.logger.info('SIGHUP: reloading the rules file');
      void service.reloadRules();
    });
    return service;
  },
});
if (running === undefined) process.exitCode = 1;
