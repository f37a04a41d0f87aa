import { PublishRefusedError } from '@sensor-streaming/bus';
import { ControlError } from '@sensor-streaming/control';
import { ProtocolError } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import { CliError, reportError, UsageError } from './cli-error.js';

describe('reportError', () => {
  it('usage errors exit 2 with one line', () => {
    expect(reportError(new UsageError('bad flag'))).toEqual({ exitCode: 2, text: 'iotctl: bad flag\n' });
    expect(reportError(new ProtocolError('serial', 'must match'))).toEqual({
      exitCode: 2,
      text: 'iotctl: serial: must match\n',
    });
    expect(reportError(new ControlError('CONTROL_BAD_FREQUENCY', 'too fast')).exitCode).toBe(2);
  });

  it('expected failures exit 1 with one line', () => {
    expect(reportError(new CliError('IOTCTL_BROKER_UNREACHABLE', 'cannot reach'))).toEqual({
      exitCode: 1,
      text: 'iotctl: cannot reach\n',
    });
    expect(reportError(new ControlError('CONTROL_REGISTRY_UNAVAILABLE', 'no registry'))).toEqual({
      exitCode: 1,
      text: 'iotctl: no registry\n',
    });
  });

  it('a refusal by the broker (the role may not do it) exits 1 with one line naming user and resource', () => {
    const text =
      "ACCESS_REFUSED - access to queue 'control.acks.1' in vhost 'v' refused for user 'op.viewer'";
    const declare = Object.assign(
      new Error(`Operation failed: QueueDeclare; 403 (ACCESS-REFUSED) with message "${text}"`),
      { code: 403 },
    );
    expect(reportError(declare)).toEqual({
      exitCode: 1,
      text: `iotctl: refused by the broker (this user's role does not allow it): ${text}\n`,
    });
    const publish = new PublishRefusedError(
      'sensor_streaming',
      'alarm-service.rpc',
      403,
      'ACCESS_REFUSED - x',
    );
    expect(reportError(publish).text).toBe(
      "iotctl: refused by the broker (this user's role does not allow it): ACCESS_REFUSED - x\n",
    );
    // any other channel error stays a bug (stack)
    const other = Object.assign(
      new Error(
        'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg"',
      ),
      { code: 406 },
    );
    expect(reportError(other).text).toContain('bug:');
  });

  it('bugs exit 1 with the stack', () => {
    const r = reportError(new TypeError('x is undefined'));
    expect(r.exitCode).toBe(1);
    expect(r.text).toContain('bug: TypeError: x is undefined');
    expect(r.text).toContain('cli-error.test.ts');
  });
});
