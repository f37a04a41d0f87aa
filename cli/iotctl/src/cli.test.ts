import { describe, expect, it } from 'vitest';
import { runIotctl } from './testing/run-iotctl.js';

// The real command, spawned: exit codes and what the operator reads. No broker needed here. Each spawn
// costs seconds on a loaded machine, so the finer argument checks run in-process (run-cli.test.ts).
describe.concurrent('iotctl (spawned)', { timeout: 120_000 }, () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await runIotctl(['--help']);
    expect(r.code).toBe(0);
    for (const c of [
      'sleep',
      'awake',
      'changesamplefrequency',
      'sensors',
      'commands',
      'status',
      'alarms',
      'logs',
      'tail',
    ]) {
      expect(r.stdout).toContain(c);
    }
  });

  it.each([
    [['sleep'], 'name the sensors'],
    [['sleep', 'bad.serial'], 'invalid serial "bad.serial"'],
    [['changesamplefrequency', '-s', 'sim-0-1', '-f', '-5'], 'is not a positive number of Hz'],
  ])('usage error %j: one line on stderr, exit 2', async (args, fragment) => {
    const r = await runIotctl(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(fragment);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^iotctl: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('an unreachable broker fails in bounded time with one line, exit 1', async () => {
    const r = await runIotctl([
      '--amqp-url',
      'amqp://guest:guest@127.0.0.1:1',
      '--connect-timeout',
      '300',
      'sleep',
      'sim-0-1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      'iotctl: cannot connect to the broker at amqp://guest:***@127.0.0.1:1: connection refused',
    );
  });
});
