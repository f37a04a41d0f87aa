import { MigrationConfigError } from '../errors.js';
import type { DbLogger } from '../logger.js';
import type { MigrationSession } from './migration-target.js';

/** What the server says about TimescaleDB before the first migration runs. */
export interface TimescaleProbe {
  /** sensor_streaming.timescaledb for this session: auto, on or off (anything else is left to 0001 to reject). */
  mode: string;
  /** pg_available_extensions lists timescaledb (its files are installed on the server). */
  available: boolean;
  /** The extension is already created in this database. */
  installed: boolean;
  /** The library is loaded in this backend (shared_preload_libraries, or PGlite's in-process load). */
  loaded: boolean;
}

export const TIMESCALE_PRELOAD_HINT =
  "add timescaledb to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'timescaledb'), restart PostgreSQL, then migrate";

/**
 * `CREATE EXTENSION timescaledb` on a server where the extension is installed
 * but not preloaded ends the connection with a FATAL error. Ask first: in
 * `auto` mode such a server counts as plain PostgreSQL (one warning says how to
 * enable TimescaleDB); in `on` mode it is a configuration error in one line.
 */
export async function timescalePreflight(
  session: MigrationSession,
  logger: DbLogger,
): Promise<TimescaleProbe> {
  const { rows } = await session.query<TimescaleProbe>(`SELECT
      lower(coalesce(nullif(current_setting('sensor_streaming.timescaledb', true), ''), 'auto')) AS mode,
      EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
      EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed,
      (current_setting('timescaledb.license', true) IS NOT NULL
        OR 'timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries', true), ' ', ''), ','))) AS loaded`);
  const probe = rows[0];
  if (probe === undefined) throw new Error('TimescaleDB probe returned no row');
  if (session.loadsExtensionsOnDemand === true) probe.loaded = true;
  if (!probe.available || probe.installed || probe.loaded || probe.mode === 'off') return probe;
  if (probe.mode === 'on') {
    throw new MigrationConfigError(
      `sensor_streaming.timescaledb = on, but TimescaleDB is installed on this server without being preloaded: ${TIMESCALE_PRELOAD_HINT}`,
    );
  }
  logger.warn(
    { timescaledb: 'installed, not preloaded', hint: TIMESCALE_PRELOAD_HINT },
    `TimescaleDB is installed on this server but not preloaded, so this database gets plain PostgreSQL tables; to use TimescaleDB: ${TIMESCALE_PRELOAD_HINT}`,
  );
  await session.query("SELECT set_config('sensor_streaming.timescaledb', 'off', false)");
  return { ...probe, mode: 'off' };
}
