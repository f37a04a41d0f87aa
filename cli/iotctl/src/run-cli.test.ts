import { describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { captureIo } from './testing/capture-io.js';

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = captureIo(env);
  const code = await runCli(['node', 'iotctl', ...args], io);
  return { code, stdout: io.out(), stderr: io.err() };
}

describe('runCli argument checks', () => {
  it.each([
    [['awake', '-s', 'ok', '--all'], 'not several'],
    [['sleep', '--selector', 'kind'], '--selector: selector part "kind" is not key=value'],
    [['changesamplefrequency', 'sim-0-1'], 'needs --hz'],
    [['changesamplefrequency', 'sim-0-1', '--hz', 'fast'], 'frequency "fast" is not a positive number of Hz'],
    [['changesamplefrequency', 'sim-0-1', '--hz', '20000'], 'out of range'],
    [['changesamplefrequency', 'sim-0-1', '--hz', '5', '-f', '6'], 'cannot be used with'],
    [['sleep', 'x', '--timeout', 'soon'], '--timeout must be a whole number'],
    [['sleep', 'x', '--ttl', '-1'], '--ttl must be a whole number'],
    [['sensors', 'list', '--state', 'dancing'], '--state must be one of'],
    [['sensors', 'list', '--online', '--offline'], 'not both'],
    [['sensors', 'list', '--kind', 'a.b'], '--kind must match'],
    [['sensors', 'show', 'a/b'], 'invalid serial'],
    [['commands', 'x', '--limit', '0'], '--limit must be a whole number'],
    [['alarms', 'ack', 'not-a-uuid'], 'alarm id must be an alarm id (a uuid)'],
    [['alarms', '--rule', '../etc'], '--rule must be a rule id'],
    [['alarms', '--severity', 'panic'], '--severity: must be one of INFO, WARNING, MAJOR, CRITICAL'],
    [['status', '--refresh', '5'], '--refresh must be a whole number of milliseconds from 100'],
    [['--connect-timeout', 'x', 'sleep', 'a'], '--connect-timeout must be a whole number'],
    [['--amqp-url', 'http://h', 'sleep', 'a'], '--amqp-url must start with amqp://'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['status', '--sort', 'mood'], '--sort must be one of serial, kind, state, data, alarms'],
    [['logs'], 'name the sensors'],
    [['logs', 'x', '--level', 'loud'], '--level must be one of'],
    [['logs', 'x', '--since', 'tuesday'], '--since must be a duration'],
    [['logs', 'x', '--code', 'a b'], '--code must be an error code'],
    [['tail', 'x', '--channel', 'a/b'], '--channel must be a channel name'],
    [['sleep', '--frob'], "unknown option '--frob'"],
  ])('%j is a usage error: one line on stderr, exit 2', async (args, fragment) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(fragment);
    expect(r.stderr.split('\n')[0]).toMatch(/^iotctl: /);
  });

  it('takes the broker URL from AMQP_URL and never prints its password', async () => {
    const r = await run(['--connect-timeout', '200', 'sensors', 'list'], {
      AMQP_URL: 'amqp://guest:secret@127.0.0.1:1/vh',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'iotctl: cannot connect to the broker at amqp://guest:***@127.0.0.1:1/vh: connection refused\n',
    );
  });

  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
