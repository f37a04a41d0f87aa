import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// batch-pipeline.ts and ingest-config.ts exist in both ingesters until they
// move to a shared package; the copies must not drift apart.
describe('files shared with measurements-ingester', () => {
  it.each(['batch-pipeline.ts', 'ingest-config.ts'])('%s is identical in both ingesters', (file) => {
    const here = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
    const there = readFileSync(new URL(`../../measurements-ingester/src/${file}`, import.meta.url), 'utf8');
    expect(there).toBe(here);
  });
});
