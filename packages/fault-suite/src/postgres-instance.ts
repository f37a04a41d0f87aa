import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runCommand } from './run-command.js';

const PG_BIN = process.env.FAULTS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PG_USER = 'postgres';

/**
 * A throwaway PostgreSQL instance of its own (initdb into a temp dir, its own port and socket dir), so the
 * suite can crash, stop and restart it without touching the shared server. As root it runs as `postgres`.
 */
export class PostgresInstance {
  readonly port: number;
  private readonly dir: string;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  static async create(): Promise<PostgresInstance> {
    const dir = await mkdtemp(join(tmpdir(), 'faults-pg-'));
    const pg = new PostgresInstance(dir, await freePort());
    if (process.getuid?.() === 0) {
      const uid = Number((await runCommand('id', ['-u', PG_USER])).stdout.trim());
      const gid = Number((await runCommand('id', ['-g', PG_USER])).stdout.trim());
      await chown(dir, uid, gid);
    }
    await chmod(dir, 0o700);
    await pg.pg('initdb', ['-D', pg.dataDir, '-U', PG_USER, '--auth=trust', '--no-sync', '-E', 'UTF8']);
    return pg;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Connection URL of database `name` on this instance. */
  url(name: string): string {
    return `postgres://${PG_USER}@127.0.0.1:${this.port}/${name}`;
  }

  private async pg(tool: string, args: string[], timeoutMs = 120_000): Promise<string> {
    const { stdout } = await runCommand(join(PG_BIN, tool), args, { asUser: PG_USER, timeoutMs });
    return stdout;
  }

  private options(): string {
    return [
      `-p ${this.port}`,
      "-c listen_addresses='127.0.0.1'",
      `-k ${this.dir}`,
      '-c shared_buffers=64MB',
      '-c max_connections=60',
      '-c log_min_messages=warning',
    ].join(' ');
  }

  async start(): Promise<void> {
    await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-o',
      this.options(),
      '-l',
      join(this.dir, 'pg.log'),
      '-w',
      '-t',
      '120',
      'start',
    ]);
  }

  /** `immediate` is a crash (recovery from the WAL at the next start); `fast` a clean stop. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '120', 'stop']);
  }

  /** A crash and a start: every connection dies, the data survives. */
  async restart(): Promise<void> {
    await this.stop('immediate');
    await this.start();
  }

  async destroy(): Promise<void> {
    try {
      await this.stop('immediate');
    } catch {
      // not running
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
