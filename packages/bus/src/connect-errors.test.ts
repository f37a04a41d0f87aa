import { describe, expect, it } from 'vitest';
import { describeConnectError } from './errors.js';

const url = 'amqp://guest:secret@127.0.0.1:5672/plant%2Fnorth';

describe('describeConnectError', () => {
  it('names what amqplib reports in words an operator can act on', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' });
    expect(describeConnectError(refused, url)).toEqual({
      code: 'BUS_CONNECTION_REFUSED',
      message: 'connection refused',
      definite: true,
    });
    const auth = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"',
    );
    expect(describeConnectError(auth, url).code).toBe('BUS_ACCESS_REFUSED');
    const vhost = new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    expect(describeConnectError(vhost, url)).toEqual({
      code: 'BUS_VHOST_REFUSED',
      message: 'vhost "plant/north" does not exist or this user may not use it',
      definite: true,
    });
  });

  it('leaves what may pass by itself (a timeout, anything unknown) as not definite', () => {
    const t = Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(describeConnectError(t, url).definite).toBe(false);
    expect(describeConnectError(new Error('socket hang up\nmore'), url)).toEqual({
      code: 'BUS_CONNECT_FAILED',
      message: 'socket hang up',
      definite: false,
    });
  });
});
