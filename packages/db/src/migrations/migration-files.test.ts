import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrationFileError } from '../errors.js';
import { checksumOf, defaultMigrationsDir, loadMigrationFiles, parseMigration } from './migration-files.js';

const dirs: string[] = [];
async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ss-migrations-'));
  dirs.push(dir);
  for (const [name, sql] of Object.entries(files)) await writeFile(path.join(dir, name), sql);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('migration files', () => {
  it('orders by number, ignores non-sql files and reads the no-transaction marker', async () => {
    const dir = await dirWith({
      '0010_later.sql': 'SELECT 10;',
      '0002_second.sql': '-- sensor-streaming: no-transaction\nCREATE INDEX CONCURRENTLY x ON t (a);',
      '0001_first.sql': 'SELECT 1;',
      'README.md': 'not a migration',
    });
    const files = await loadMigrationFiles(dir);
    expect(files.map((f) => [f.name, f.version, f.transactional])).toEqual([
      ['0001_first.sql', 1, true],
      ['0002_second.sql', 2, false],
      ['0010_later.sql', 10, true],
    ]);
  });

  it('rejects badly named files and duplicate numbers with a typed error', async () => {
    await expect(loadMigrationFiles(await dirWith({ 'create_tables.sql': 'SELECT 1' }))).rejects.toThrow(
      MigrationFileError,
    );
    await expect(
      loadMigrationFiles(await dirWith({ '0001_a.sql': 'SELECT 1', '0001_b.sql': 'SELECT 2' })),
    ).rejects.toThrow(/share the number 1/);
    await expect(loadMigrationFiles('/nonexistent/migrations')).rejects.toMatchObject({
      code: 'DB_MIGRATION_INVALID_FILE',
    });
  });

  it('checksums are sha256 of the content, insensitive to CRLF line endings only', () => {
    expect(checksumOf('SELECT 1;\n')).toMatch(/^[0-9a-f]{64}$/);
    expect(checksumOf('SELECT 1;\r\nSELECT 2;')).toBe(checksumOf('SELECT 1;\nSELECT 2;'));
    expect(checksumOf('SELECT 1;')).not.toBe(checksumOf('SELECT 2;'));
    expect(parseMigration('0001_a.sql', 'SELECT 1').checksum).toBe(checksumOf('SELECT 1'));
  });

  it('the default directory is the repository migrations/ with the real files', async () => {
    const files = await loadMigrationFiles(defaultMigrationsDir());
    expect(files.map((f) => f.name)).toContain('0003_measurements.sql');
    expect(files.every((f) => f.transactional)).toBe(true);
  });
});
