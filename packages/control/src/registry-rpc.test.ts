import { describe, expect, it } from 'vitest';
import { ControlError } from './control-error.js';
import { parseRegistryRequest, parseSelector } from './registry-rpc.js';

const body = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseSelector', () => {
  it('parses comma-separated key=value pairs, trimming spaces', () => {
    expect(parseSelector('kind=vibration, site=north')).toEqual({ kind: 'vibration', site: 'north' });
  });

  it.each([
    ['', 'empty'],
    ['kind', 'is not key=value'],
    ['=x', 'is not key=value'],
    ['kind=a,kind=b', 'repeated'],
    ['bad key=x', 'must match'],
    ['site=no spaces', 'must match'],
  ])('rejects %j naming the problem', (text, fragment) => {
    expect(() => parseSelector(text)).toThrow(ControlError);
    expect(() => parseSelector(text)).toThrow(fragment);
  });
});

describe('parseRegistryRequest', () => {
  it('accepts a filtered sensors.list', () => {
    expect(
      parseRegistryRequest(
        body({
          method: 'sensors.list',
          params: { kind: 'vibration', state: 'ASLEEP', online: true, limit: 10 },
        }),
      ),
    ).toEqual({
      method: 'sensors.list',
      params: { kind: 'vibration', state: 'ASLEEP', online: true, limit: 10 },
    });
  });

  it('defaults missing params to an empty filter', () => {
    expect(parseRegistryRequest(body({ method: 'sensors.list' }))).toEqual({
      method: 'sensors.list',
      params: {},
    });
  });

  it('accepts sensors.show and commands.list with a valid serial', () => {
    expect(parseRegistryRequest(body({ method: 'sensors.show', params: { serial: 'sim-0-1' } }))).toEqual({
      method: 'sensors.show',
      params: { serial: 'sim-0-1' },
    });
    expect(
      parseRegistryRequest(body({ method: 'commands.list', params: { serial: 'sim-0-1', limit: 5 } })),
    ).toEqual({ method: 'commands.list', params: { serial: 'sim-0-1', limit: 5 } });
  });

  it('accepts logs.list and normalises its since to ISO 8601', () => {
    expect(
      parseRegistryRequest(
        body({
          method: 'logs.list',
          params: {
            serials: ['s-1'],
            minLevel: 'WARN',
            errorCode: 'E42',
            since: '2026-01-01T00:00:00+01:00',
            limit: 5,
          },
        }),
      ),
    ).toEqual({
      method: 'logs.list',
      params: {
        serials: ['s-1'],
        minLevel: 'WARN',
        errorCode: 'E42',
        since: '2025-12-31T23:00:00.000Z',
        limit: 5,
      },
    });
  });

  it.each([
    [Buffer.from('{nope'), 'not valid JSON'],
    [body([1, 2]), 'must be a JSON object'],
    [body({ method: 'sensors.drop' }), 'unknown method'],
    [body({ method: 'sensors.list', params: { state: 'DANCING' } }), 'params.state'],
    [body({ method: 'sensors.list', params: { online: 'yes' } }), 'params.online'],
    [body({ method: 'sensors.list', params: { limit: 0 } }), 'params.limit'],
    [body({ method: 'sensors.list', params: { selector: { site: 3 } } }), 'params.selector.site'],
    [body({ method: 'sensors.show', params: { serial: 'a.b' } }), 'params.serial'],
    [body({ method: 'commands.list', params: { serial: 'ok', limit: 1.5 } }), 'params.limit'],
    [body({ method: 'logs.list', params: {} }), 'params.serials'],
    [body({ method: 'logs.list', params: { serials: ['a.b'] } }), 'params.serials[0]'],
    [body({ method: 'logs.list', params: { serials: ['a'], minLevel: 'LOUD' } }), 'params.minLevel'],
    [body({ method: 'logs.list', params: { serials: ['a'], errorCode: 'x y' } }), 'params.errorCode'],
    [body({ method: 'logs.list', params: { serials: ['a'], since: 'yesterday' } }), 'params.since'],
    [body({ method: 'logs.list', params: { serials: ['a'], limit: 10_001 } }), 'params.limit'],
  ])('rejects bad request %#, naming the field', (buf, fragment) => {
    expect(() => parseRegistryRequest(buf)).toThrow(fragment);
  });
});
