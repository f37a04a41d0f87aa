import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  canStartThrowawayBroker,
  startThrowawayBroker,
  type ThrowawayBroker,
} from '@sensor-streaming/identity/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_DIR, runIotctl } from './testing/run-iotctl.js';

/* The real command over TLS (amqps:// + TLS_CA_FILE) against a throwaway RabbitMQ with a test CA. */

const run = promisify(execFile);
let dir: string;
let broker: ThrowawayBroker;
let ca: string;

describe.skipIf(!canStartThrowawayBroker())('iotctl over TLS', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'iotctl-tls-'));
    await run('sh', [path.join(REPO_DIR, 'scripts/dev-certs.sh'), dir]);
    ca = path.join(dir, 'ca.pem');
    broker = await startThrowawayBroker({
      tls: { caFile: ca, certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server.key') },
    });
  }, 180_000);

  afterAll(async () => {
    await broker?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('connects with TLS_CA_FILE (then waits for a registry there is none of)', async () => {
    const r = await runIotctl(['sensors', 'list', '--rpc-timeout', '1000'], {
      env: { AMQP_URL: broker.amqpsUrl!, TLS_CA_FILE: ca },
    });
    expect(r.stderr).not.toMatch(/cannot connect/);
    expect(r.stderr).toMatch(/registry/i);
    expect(r.code).toBe(1);
  }, 60_000);

  it('refuses a broker it cannot verify, in one line naming the fix', async () => {
    const r = await runIotctl(['sensors', 'list'], { env: { AMQP_URL: broker.amqpsUrl!, TLS_CA_FILE: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /cannot connect to the broker at amqps:\/\/guest:\*\*\*@127\.0\.0\.1:\d+: the broker's TLS certificate is not trusted \(\w+\): set TLS_CA_FILE/,
    );
  }, 60_000);

  it('names a missing CA file as a usage error before connecting', async () => {
    const r = await runIotctl(['sensors', 'list'], {
      env: { AMQP_URL: broker.amqpsUrl!, TLS_CA_FILE: path.join(dir, 'nope.pem') },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`TLS_CA_FILE: cannot read "${path.join(dir, 'nope.pem')}": no such file`);
  }, 60_000);
});
