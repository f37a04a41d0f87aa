import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationFileError } from '../errors.js';

export const NO_TRANSACTION_MARKER = '-- sensor-streaming: no-transaction';
const FILE_NAME = /^(\d{4,})_[A-Za-z0-9_-]+\.sql$/;

export interface MigrationFile {
  /** File name, e.g. `0003_measurements.sql`; the key in schema_migrations. */
  name: string;
  version: number;
  sql: string;
  /** sha256 (hex) of the file with line endings normalised to \n. */
  checksum: string;
  /** False when the first line is `-- sensor-streaming: no-transaction`. */
  transactional: boolean;
}

/** The repository's `migrations/` directory (same relative depth from src/ and dist/). */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL('../../../../migrations/', import.meta.url));
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

export function parseMigration(name: string, sql: string): MigrationFile {
  const match = FILE_NAME.exec(name);
  if (!match) {
    throw new MigrationFileError(
      `migration file name ${JSON.stringify(name)} must look like 0001_short_name.sql (digits, underscore, [A-Za-z0-9_-])`,
    );
  }
  const firstLine = (sql.split('\n', 1)[0] ?? '').trim().toLowerCase();
  return {
    name,
    version: Number(match[1]),
    sql,
    checksum: checksumOf(sql),
    transactional: firstLine !== NO_TRANSACTION_MARKER,
  };
}

/** Reads every `*.sql` file of `dir`, validated and ordered by number. */
export async function loadMigrationFiles(dir: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new MigrationFileError(`cannot read migrations directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const files: MigrationFile[] = [];
  for (const name of names.filter((n) => n.endsWith('.sql'))) {
    files.push(parseMigration(name, await readFile(path.join(dir, name), 'utf8')));
  }
  files.sort((a, b) => a.version - b.version || a.name.localeCompare(b.name));
  for (let i = 1; i < files.length; i++) {
    const prev = files[i - 1]!;
    const cur = files[i]!;
    if (prev.version === cur.version) {
      throw new MigrationFileError(`migrations ${prev.name} and ${cur.name} share the number ${cur.version}`);
    }
  }
  return files;
}
