import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbLogger } from '../logger.js';
import { createTestDatabase, type TestDatabase } from '../testing/index.js';
import { defaultMigrationsDir, loadMigrationFiles } from './migration-files.js';
import { runMigrations } from './run-migrations.js';
import { createSchemaGate, readSchemaLevel } from './schema-gate.js';

function recordingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string | undefined }> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const logger: DbLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

// A database migrated only up to the release before the newest migration:
// the "old schema" a new image meets before its migrate Job has run.
let database: TestDatabase;
let oldDir: string;
let shipped: string[];
beforeAll(async () => {
  shipped = (await loadMigrationFiles(defaultMigrationsDir())).map((f) => f.name);
  expect(shipped.length).toBeGreaterThan(1);
  oldDir = await mkdtemp(path.join(tmpdir(), 'schema-gate-'));
  for (const name of shipped.slice(0, -1)) {
    await cp(path.join(defaultMigrationsDir(), name), path.join(oldDir, name));
  }
  database = await createTestDatabase({ migrate: false, prefix: 'schema_gate' });
});
afterAll(async () => {
  await database?.drop();
  if (oldDir) await rm(oldDir, { recursive: true, force: true });
});

describe('schema gate against the real database', () => {
  it('stays closed on an empty database, naming every shipped migration as missing', async () => {
    const level = await readSchemaLevel(database.pool);
    expect(level).toEqual({ required: Number(shipped.at(-1)!.slice(0, 4)), current: 0, missing: shipped });
  });

  it('stays closed with a clear warn line on an old schema and opens once migrated', async () => {
    await runMigrations(database.pool, { dir: oldDir });
    expect(await readdir(oldDir)).toHaveLength(shipped.length - 1);

    const { logger, lines } = recordingLogger();
    const gate = createSchemaGate({ db: database.pool, logger });
    expect(await gate.check()).toBe(false);
    expect(await gate.check()).toBe(false);
    const newest = shipped.at(-1)!;
    expect(gate.level?.missing).toEqual([newest]);
    const warns = lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1); // repeated only after repeatLogMs
    expect(warns[0]?.msg).toMatch(
      /database schema is behind this release: it needs migration \d+, the database has \d+/,
    );
    expect(warns[0]?.msg).toContain(newest);
    expect(warns[0]?.msg).toContain('not ready until migrations run');

    await runMigrations(database.pool);
    expect(await gate.check()).toBe(true);
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'database schema is at the level this release needs',
    });

    // latched: an open gate does not query again
    let queries = 0;
    const counting = {
      query: ((text: string, values?: unknown[]) => {
        queries++;
        return database.pool.query(text, values);
      }) as typeof database.pool.query,
    };
    const latched = createSchemaGate({ db: counting });
    expect(await latched.check()).toBe(true);
    const after = queries;
    expect(after).toBeGreaterThan(0);
    expect(await latched.check()).toBe(true);
    expect(queries).toBe(after);
  });

  it('is closed, not throwing, when the database cannot be read', async () => {
    const { logger, lines } = recordingLogger();
    const gate = createSchemaGate({
      db: { query: () => Promise.reject(new Error('connection refused')) },
      logger,
    });
    expect(await gate.check()).toBe(false);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'cannot read the database schema level; not ready',
    });
  });
});
