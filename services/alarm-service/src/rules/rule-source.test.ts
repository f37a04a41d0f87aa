import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sensor-streaming/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleSource } from './rule-source.js';
import type { RuleSet } from './rule-types.js';

const logger = createLogger({ service: 'test', level: 'silent' });
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const v = (n: number, extra = '') =>
  `version: ${n}\nrules:\n  - { id: hot, type: threshold, channel: temperature, raise: "> ${n}" }\n${extra}`;

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RuleSource', () => {
  it('reloads on file change without a restart, keeps the rules when the new file is broken', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rules-'));
    const file = join(dir, 'rules.yaml');
    await writeFile(file, v(1));
    const seen: RuleSet[] = [];
    const src = new RuleSource({ file, logger, checkIntervalMs: 60_000, onChange: (s) => seen.push(s) });
    expect((await src.load()).version).toBe('1');
    src.start();
    try {
      await writeFile(file, v(2));
      await waitFor(() => seen.length === 2); // via fs.watch
      expect(seen[1]?.rules[0]).toMatchObject({ id: 'hot', raise: { threshold: 2 } });

      await writeFile(file, 'version: 3\nrules: [');
      await src.reload('SIGHUP');
      expect(src.current?.version).toBe('2');

      await writeFile(file, v(4, '  - { id: broken, type: threshold }\n'));
      await src.reload('SIGHUP');
      expect(src.current?.version).toBe('4');
      expect(src.current?.rules.map((r) => r.id)).toEqual(['hot']);
      expect(src.current?.problems.map((p) => p.where)).toEqual(['broken']);
    } finally {
      src.stop();
    }
  });

  it('fails the first load when the file is missing', async () => {
    const src = new RuleSource({
      file: '/nonexistent/rules.yaml',
      logger,
      checkIntervalMs: 1000,
      onChange: () => {},
    });
    await expect(src.load()).rejects.toThrow(/ENOENT/);
  });
});
