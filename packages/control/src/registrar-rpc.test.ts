import { describe, expect, it } from 'vitest';
import { parseLabelArg, parseRegistrarRequest } from './registrar-rpc.js';

const req = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('registrar RPC contract', () => {
  it('accepts a registration with kind and labels', () => {
    expect(
      parseRegistrarRequest(
        req({
          method: 'sensors.register',
          params: { sensors: [{ serial: 'pump-1', kind: 'vibration', labels: { site: 'north' } }] },
        }),
      ),
    ).toEqual({
      method: 'sensors.register',
      params: { sensors: [{ serial: 'pump-1', kind: 'vibration', labels: { site: 'north' } }] },
    });
  });

  it.each([
    [{ sensors: [{ serial: 'a.b' }] }, /params\.sensors\[0\]\.serial: invalid serial "a\.b"/],
    [
      { sensors: [{ serial: 'a', kind: 'toaster' }] },
      /params\.sensors\[0\]\.kind: kind must be one of vibration/,
    ],
    [{ sensors: [{ serial: 'a', labels: { 'bad key': 'x' } }] }, /labels\.bad key: label key must match/],
    [{ sensors: [{ serial: 'a', labels: { site: 'x y' } }] }, /labels\.site: label value must be/],
    [{ sensors: [{ serial: 'a', labels: { kind: 'x' } }] }, /kind is not a label/],
    [{ sensors: [{ serial: 'a' }, { serial: 'a' }] }, /serial a appears twice/],
    [{ sensors: [] }, /params\.sensors: must be an array of 1 to 5000/],
  ])('refuses %j with a message naming the field', (params, message) => {
    expect(() => parseRegistrarRequest(req({ method: 'sensors.register', params }))).toThrow(message);
  });

  it('validates revoke serials and unknown methods', () => {
    expect(parseRegistrarRequest(req({ method: 'sensors.revoke', params: { serials: ['x'] } }))).toEqual({
      method: 'sensors.revoke',
      params: { serials: ['x'] },
    });
    expect(() =>
      parseRegistrarRequest(req({ method: 'sensors.revoke', params: { serials: ['x y'] } })),
    ).toThrow(/params\.serials\[0\]/);
    expect(() => parseRegistrarRequest(req({ method: 'sensors.delete' }))).toThrow(/unknown method/);
  });

  it('parses --label key=value', () => {
    expect(parseLabelArg('site=north')).toEqual(['site', 'north']);
    expect(() => parseLabelArg('site')).toThrow(/not key=value/);
  });
});
