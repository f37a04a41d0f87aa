/** A migration file is malformed (bad name, duplicate number) or the directory is unreadable. */
export class MigrationFileError extends Error {
  readonly code = 'DB_MIGRATION_INVALID_FILE';
  readonly permanent = true;
  override readonly name = 'MigrationFileError';
}

export interface ChecksumMismatch {
  name: string;
  appliedChecksum: string;
  fileChecksum: string;
}

/** An already applied migration file was edited after it was applied. */
export class MigrationChecksumError extends Error {
  readonly code = 'DB_MIGRATION_CHECKSUM_MISMATCH';
  readonly permanent = true;
  override readonly name = 'MigrationChecksumError';
  readonly mismatches: ChecksumMismatch[];

  constructor(mismatches: ChecksumMismatch[]) {
    super(
      `applied migration(s) changed on disk: ${mismatches.map((m) => m.name).join(', ')}; ` +
        'never edit an applied migration, add a new numbered file instead',
    );
    this.mismatches = mismatches;
  }
}

/** A migration's SQL failed; its transaction (if any) was rolled back. */
export class MigrationError extends Error {
  readonly code = 'DB_MIGRATION_FAILED';
  override readonly name = 'MigrationError';
  readonly migration: string;

  constructor(migration: string, message: string, options?: { cause?: unknown }) {
    super(`migration ${migration} failed: ${message}`, options);
    this.migration = migration;
  }
}

/** Another process held the migration lock for longer than the allowed wait. */
export class MigrationLockTimeoutError extends Error {
  readonly code = 'DB_MIGRATION_LOCK_TIMEOUT';
  override readonly name = 'MigrationLockTimeoutError';
}

/** The server or the migration settings do not allow the requested setup (e.g. TimescaleDB not preloaded). */
export class MigrationConfigError extends Error {
  readonly code = 'DB_MIGRATION_CONFIG';
  readonly permanent = true;
  override readonly name = 'MigrationConfigError';
}
