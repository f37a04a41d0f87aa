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

  it('bugs exit 1 with the stack', () => {
    const r = reportError(new TypeError('x is undefined'));
    expect(r.exitCode).toBe(1);
    expect(r.text).toContain('bug: TypeError: x is undefined');
    expect(r.text).toContain('cli-error.test.ts');
  });
});
