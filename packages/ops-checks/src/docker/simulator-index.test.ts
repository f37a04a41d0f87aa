import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../repo-root.js';

// Runs deploy/docker/simulator-index with stand-ins for `hostname` (the
// container's addresses) and `node` (prints what it would start with).
const script = path.join(repoRoot(), 'deploy', 'docker', 'simulator-index');
const bin = mkdtempSync(path.join(tmpdir(), 'simulator-index-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function run(addresses: string, env: Record<string, string> = {}): string {
  writeFileSync(path.join(bin, 'hostname'), `#!/bin/sh\necho "${addresses}"\n`);
  writeFileSync(path.join(bin, 'node'), '#!/bin/sh\necho "index=$SIMULATOR_INDEX args=$*"\n');
  chmodSync(path.join(bin, 'hostname'), 0o755);
  chmodSync(path.join(bin, 'node'), 0o755);
  return execFileSync('sh', [script], {
    encoding: 'utf8',
    env: { PATH: `${bin}:/usr/bin:/bin`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

describe('simulator-index (Compose entrypoint of the simulator)', () => {
  it('gives replicas on one network different indexes from their IPv4 addresses', () => {
    expect(run('172.18.0.7')).toBe('index=7 args=services/sensor-simulator/dist/main.js');
    expect(run('172.18.3.7 fd00::3:7')).toBe('index=775 args=services/sensor-simulator/dist/main.js');
    expect(run('fd00::9 10.0.1.2')).toBe('index=258 args=services/sensor-simulator/dist/main.js');
  });

  it('keeps an explicit SIMULATOR_INDEX', () => {
    expect(run('172.18.0.7', { SIMULATOR_INDEX: '42' })).toBe(
      'index=42 args=services/sensor-simulator/dist/main.js',
    );
  });

  it('refuses to start without an IPv4 address rather than reuse another replica’s serials', () => {
    expect(() => run('fd00::9')).toThrow(/no IPv4 address; set SIMULATOR_INDEX/);
  });
});
