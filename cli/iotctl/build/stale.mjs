// Is the iotctl bundle older than its sources? Used by the launcher (bin/iotctl.js) on every run and by
// scripts/install-iotctl.sh. Cheap: one small JSON read and a stat per input (~100).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = resolve(packageDir, '../..');

/** Why the bundle must be rebuilt, or null when it is up to date (or there are no sources to compare with). */
export function staleReason() {
  if (!existsSync(join(packageDir, 'src'))) return null;
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(packageDir, 'dist', 'bundle', 'manifest.json'), 'utf8'));
  } catch {
    return 'no bundle yet';
  }
  for (const input of manifest.inputs) {
    let mtimeMs;
    try {
      mtimeMs = statSync(join(repoDir, input)).mtimeMs;
    } catch {
      return `${input} is gone`;
    }
    if (mtimeMs >= manifest.builtAtMs) return `${input} changed`;
  }
  return null;
}
