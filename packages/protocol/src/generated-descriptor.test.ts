import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const pbjs = createRequire(import.meta.url).resolve('protobufjs-cli/bin/pbjs');
const tempDir = mkdtempSync(join(tmpdir(), 'protocol-generate-'));

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

describe('src/generated/sensor.json', () => {
  it('is what `pnpm generate` produces from proto/sensor.proto today (regenerate and commit if not)', () => {
    const out = join(tempDir, 'sensor.json');
    // Same command as the `generate` script in package.json, into a temp dir.
    execFileSync(process.execPath, [pbjs, '-t', 'json', '-o', out, 'proto/sensor.proto'], {
      cwd: packageDir,
    });
    const committed = readFileSync(join(packageDir, 'src/generated/sensor.json'), 'utf8');
    expect(readFileSync(out, 'utf8')).toBe(committed);
  });

  it('the generate script in package.json is that same command', () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.generate).toBe('pbjs -t json -o src/generated/sensor.json proto/sensor.proto');
  });
});
