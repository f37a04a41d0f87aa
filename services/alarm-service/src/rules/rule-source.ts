import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import type { Logger } from '@sensor-streaming/runtime';
import { parseRuleFile } from './rule-set.js';
import type { RuleSet } from './rule-types.js';

export interface RuleSourceOptions {
  file: string;
  logger: Logger;
  /** Periodic re-read (in case fs.watch misses an edit, e.g. on network filesystems or ConfigMap symlink swaps). */
  checkIntervalMs: number;
  /** Watch the file's directory for changes (default true). */
  watch?: boolean;
  onChange(set: RuleSet): void;
}

function formatOf(file: string): 'yaml' | 'json' {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/**
 * The rules file: loaded at start (a file that cannot be read or parsed at
 * all fails the start), then reloaded on change (fs.watch on the directory,
 * a periodic check, or reload() from SIGHUP). A reload that fails as a whole
 * keeps the current rules; bad rules inside a good file are rejected one by
 * one, each logged with its reason.
 */
export class RuleSource {
  private hash = '';
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  current: RuleSet | undefined;

  constructor(private readonly opts: RuleSourceOptions) {
    this.log = opts.logger.child({ module: 'rules', file: opts.file });
  }

  /** First load; throws when the file is missing or unusable. */
  async load(): Promise<RuleSet> {
    const text = await readFile(this.opts.file, 'utf8');
    const set = parseRuleFile(text, formatOf(this.opts.file));
    this.hash = createHash('sha256').update(text).digest('hex');
    this.accept(set, 'start');
    return set;
  }

  start(): void {
    if (this.opts.watch !== false) this.watch();
    this.timer = setInterval(() => void this.reload('periodic check'), this.opts.checkIntervalMs);
    this.timer.unref();
  }

  private watch(): void {
    try {
      // Watch the directory: editors and Kubernetes ConfigMaps replace the file rather than write it.
      this.watcher = watch(dirname(this.opts.file), (_event, name) => {
        if (name === null || name === basename(this.opts.file) || name.startsWith('..')) this.soon();
      });
      this.watcher.on('error', (err) =>
        this.log.warn({ err }, 'watching the rules file failed; periodic checks go on'),
      );
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the rules file; relying on periodic checks and SIGHUP');
    }
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Re-reads the file now (SIGHUP); resolves when done. Never throws. */
  reload(reason = 'requested'): Promise<void> {
    this.reloading = this.reloading.then(() => this.doReload(reason));
    return this.reloading;
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload('file changed'), 100);
    this.debounce.unref();
  }

  private async doReload(reason: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.opts.file, 'utf8');
    } catch (err) {
      this.log.error({ err, reason }, 'cannot read the rules file; keeping the current rules');
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.hash) return;
    this.hash = hash;
    let set: RuleSet;
    try {
      set = parseRuleFile(text, formatOf(this.opts.file));
    } catch (err) {
      this.log.error(
        { err, reason, previousVersion: this.current?.version },
        `rules file rejected: ${err instanceof Error ? err.message : err}; keeping the current rules`,
      );
      return;
    }
    this.accept(set, reason);
  }

  private accept(set: RuleSet, reason: string): void {
    for (const p of set.problems) {
      this.log.error(
        { rule: p.where, reason: p.reason, version: set.version },
        `rule rejected: ${p.where}: ${p.reason}`,
      );
    }
    this.log.info(
      {
        version: set.version,
        previousVersion: this.current?.version,
        rules: set.rules.map((r) => r.id),
        overrides: set.overrides.length,
        rejected: set.problems.length,
        reason,
      },
      `rules version ${set.version} loaded (${set.rules.length} rules, ${set.problems.length} rejected)`,
    );
    this.current = set;
    this.opts.onChange(set);
  }
}
