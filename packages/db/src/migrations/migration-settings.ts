/**
 * Custom settings (`sensor_streaming.<name>`) read by the migrations through
 * sensor_streaming_setting(), with the defaults the SQL uses. They only matter
 * when the migration that reads them runs (first install); see README for
 * changing policies afterwards.
 */
export const MIGRATION_SETTINGS = {
  timescaledb: 'auto',
  measurements_chunk_interval: '1 hour',
  measurements_compress_after: '2 hours',
  measurements_retention: '30 days',
  sensor_logs_chunk_interval: '1 day',
  sensor_logs_compress_after: '7 days',
  sensor_logs_retention: '90 days',
  sensor_state_changes_chunk_interval: '7 days',
  sensor_state_changes_retention: '365 days',
  aggregates_refresh_interval: '1 minute',
  aggregates_refresh_lookback: '3 hours',
  aggregates_retention: '365 days',
  aggregates_1h_retention: '730 days',
  aggregates_1d_retention: '3650 days',
  sensor_positions_chunk_interval: '7 days',
  sensor_positions_retention: '365 days',
  /** Plain PostgreSQL only (migrations/0011). */
  measurements_partition_interval: '1 day',
  aggregates_partition_interval: '7 days',
} as const;

export type MigrationSettingName = keyof typeof MIGRATION_SETTINGS;

export function isMigrationSettingName(name: string): name is MigrationSettingName {
  return Object.hasOwn(MIGRATION_SETTINGS, name);
}
