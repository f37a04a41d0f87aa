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

  it('tells an untrusted or misnamed broker certificate and a port without TLS apart, all definite', () => {
    const untrusted = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(describeConnectError(untrusted, url)).toEqual({
      code: 'BUS_TLS_UNTRUSTED',
      message:
        "the broker's TLS certificate is not trusted (SELF_SIGNED_CERT_IN_CHAIN): set TLS_CA_FILE to the CA that signed it",
      definite: true,
    });
    const name = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    expect(describeConnectError(name, url).code).toBe('BUS_TLS_UNTRUSTED');
    const plain = Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(describeConnectError(plain, url)).toMatchObject({ code: 'BUS_TLS_FAILED', definite: true });
  });
});
