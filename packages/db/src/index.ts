// Public API of @sensor-streaming/db: a plain list of re-exports.
// Repository files add one line each at the end.
export * from './database-url.js';
export * from './errors.js';
export * from './logger.js';
export * from './migrate-command.js';
export * from './migrations/migration-files.js';
export * from './migrations/migration-settings.js';
export * from './migrations/migration-target.js';
export * from './migrations/run-migrations.js';
export * from './migrations/schema-gate.js';
export * from './migrations/split-sql.js';
export * from './migrations/timescale-preflight.js';
export * from './pool.js';
export * from './repositories/sensor-id-cache.js';
export * from './repositories/sensors.js';
export * from './repositories/logs.js';
export * from './repositories/measurements.js';
export * from './repositories/alarms.js';
export * from './repositories/alarm-backtest.js';
export * from './repositories/alarm-notifications.js';
export * from './repositories/alarm-outbox.js';
export * from './repositories/alarm-shelving.js';
export * from './repositories/alarm-stats.js';
export * from './repositories/alarm-windows.js';
export * from './repositories/positions.js';
export * from './storage/storage-backend.js';
export * from './storage/storage-maintainer.js';
export * from './storage-command.js';

export type {
  RegistryCommandStatus,
  RegistryCommandType,
  RegistryPowerState,
} from './repositories/registry-sql.js';
export * from './repositories/registry-states.js';
export * from './repositories/registry-sensors.js';
export * from './repositories/registry-commands.js';
export * from './repositories/registry-history.js';
export * from './repositories/registration.js';
export * from './repositories/registration-gate.js';
