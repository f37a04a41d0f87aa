import { describe, expect, it } from 'vitest';
import { mqttSerials, parseMqttCredentials } from './mqtt-credentials.js';

describe('parseMqttCredentials', () => {
  it('reads the provisioning secrets file', () => {
    const m = parseMqttCredentials('serial,username,password\npump-1,vh:pump-1,abc\n\npump-2,pump-2,def\n');
    expect(m.get('pump-1')).toEqual({ username: 'vh:pump-1', password: 'abc' });
    expect(m.get('pump-2')).toEqual({ username: 'pump-2', password: 'def' });
  });

  it('names the bad line', () => {
    expect(() => parseMqttCredentials('serial,user\n')).toThrow(/line 1/);
    expect(() => parseMqttCredentials('serial,username,password\na,b\n')).toThrow(/line 2/);
    expect(() => parseMqttCredentials('serial,username,password\na.b,u,p\n')).toThrow(
      /line 2: invalid serial/,
    );
    expect(() => parseMqttCredentials('serial,username,password\na,u,p\na,u,q\n')).toThrow(/line 3.*twice/);
  });
});

describe('mqttSerials', () => {
  it('takes the share of the fleet, spread evenly', () => {
    const serials = Array.from({ length: 10 }, (_, i) => `s${i}`);
    expect(mqttSerials(serials, 0).size).toBe(0);
    expect(mqttSerials(serials, 1).size).toBe(10);
    expect([...mqttSerials(serials, 0.5)]).toEqual(['s1', 's3', 's5', 's7', 's9']);
    expect(mqttSerials(serials, 0.3).size).toBe(3);
  });
});
