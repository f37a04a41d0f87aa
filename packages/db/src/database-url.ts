import pg from 'pg';
import type { DbLogger } from './logger.js';

/** A connection URL for another database on the same server (same user, host, options). */
export function withDatabaseName(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The database name in a postgres:// URL; throws when the URL has none. */
export function databaseNameFromUrl(url: string): string {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (name === '') throw new Error(`database URL has no database name: ${redactDatabaseUrl(url)}`);
  return name;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the database named in `url` if it does not exist, connecting to the
 * server's `postgres` database (`maintenanceDb`). Returns true if it created
 * it. Safe when several processes race (duplicate_database is ignored).
 */
export async function ensureDatabase(
  url: string,
  opts: { logger?: DbLogger; maintenanceDb?: string } = {},
): Promise<boolean> {
  const name = databaseNameFromUrl(url);
  const client = new pg.Client({ connectionString: withDatabaseName(url, opts.maintenanceDb ?? 'postgres') });
  client.on('error', () => {}); // errors surface through the awaited calls below
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length > 0) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    } catch (err) {
      if ((err as { code?: string }).code === '42P04') return false; // created concurrently
      throw err;
    }
    opts.logger?.info({ database: name }, 'created database');
    return true;
  } finally {
    await client.end();
  }
}
