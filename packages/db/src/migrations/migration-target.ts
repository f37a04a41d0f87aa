import type pg from 'pg';

/**
 * The tiny database interface the migration runner needs, so it runs against
 * a node-postgres pool and against PGlite alike. One session = one connection
 * held for the whole run (the advisory lock is per session).
 */
export interface MigrationSession {
  query<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /** Runs a script that may contain several statements (simple query protocol). */
  exec(script: string): Promise<void>;
  /** Subscribes to server NOTICE messages (RAISE NOTICE in migrations); returns an unsubscribe. */
  onNotice?(listener: (message: string) => void): () => void;
  release(error?: Error): Promise<void> | void;
  /**
   * True where CREATE EXTENSION loads a library on demand (PGlite), so an
   * extension need not be in shared_preload_libraries to be usable.
   */
  loadsExtensionsOnDemand?: boolean;
}

export interface MigrationTarget {
  acquire(): Promise<MigrationSession>;
}

export function isMigrationTarget(x: unknown): x is MigrationTarget {
  return typeof x === 'object' && x !== null && typeof (x as MigrationTarget).acquire === 'function';
}

export function pgMigrationTarget(pool: pg.Pool): MigrationTarget {
  return {
    async acquire() {
      const client = await pool.connect();
      // A FATAL from the server (e.g. an extension that must be preloaded) ends
      // the connection and is also emitted as 'error' on the client: without a
      // listener that kills the process. The failing query rejects anyway.
      const onError = () => {};
      client.on('error', onError);
      return {
        async query<R extends object>(text: string, params?: unknown[]) {
          const result = await client.query(text, params);
          return { rows: result.rows as R[] };
        },
        async exec(script: string) {
          await client.query(script);
        },
        onNotice(listener) {
          const handler = (notice: { message?: string | undefined }) => listener(notice.message ?? '');
          client.on('notice', handler);
          return () => client.off('notice', handler);
        },
        release(error?: Error) {
          client.off('error', onError);
          client.release(error);
        },
      };
    },
  };
}

/** The subset of PGlite's API the runner uses (kept structural: PGlite is a dev dependency). */
export interface PgliteLike {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(script: string): Promise<unknown>;
}

/** PGlite is a single connection: every session shares it, so runs must not overlap. */
export function pgliteMigrationTarget(db: PgliteLike): MigrationTarget {
  return {
    async acquire() {
      return {
        async query<R extends object>(text: string, params?: unknown[]) {
          const result = await db.query<R>(text, params);
          return { rows: result.rows };
        },
        async exec(script: string) {
          await db.exec(script);
        },
        release() {},
        loadsExtensionsOnDemand: true,
      };
    },
  };
}
