import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCommonConfig } from './common-config.js';
import { ConfigError } from './config-error.js';
import { readEnv } from './env-reader.js';
import { loadTlsMaterial, readTlsConfig } from './tls-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tls-config-test-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const ca = file('ca.pem', CERT);
const cert = file('client.pem', CERT);
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
const encrypted = file(
  'enc.key',
  '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n',
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(env: NodeJS.ProcessEnv): readonly string[] {
  const r = readEnv(env);
  readTlsConfig(r);
  return r.problems;
}

describe('readTlsConfig', () => {
  it('is undefined when no TLS variable is set (plain TCP, or TLS with the system CAs)', () => {
    const r = readEnv({});
    expect(readTlsConfig(r)).toBeUndefined();
    expect(r.problems).toEqual([]);
  });

  it('returns the paths of readable PEM files', () => {
    const r = readEnv({ TLS_CA_FILE: ca, TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    expect(readTlsConfig(r)).toEqual({ caFile: ca, certFile: cert, keyFile: key });
    expect(r.problems).toEqual([]);
  });

  it('names the variable of a missing file', () => {
    expect(problems({ TLS_CA_FILE: path.join(dir, 'nope.pem') })).toEqual([
      `TLS_CA_FILE: cannot read ${JSON.stringify(path.join(dir, 'nope.pem'))}: no such file`,
    ]);
  });

  it.skipIf(process.getuid?.() === 0)('names the variable of an unreadable file', () => {
    const p = file('locked.pem', CERT);
    chmodSync(p, 0o000);
    expect(problems({ TLS_CA_FILE: p })).toEqual([
      `TLS_CA_FILE: cannot read ${JSON.stringify(p)}: permission denied`,
    ]);
  });

  it('refuses a directory, a file that is not PEM, a certificate given as the key, an encrypted key', () => {
    expect(problems({ TLS_CA_FILE: dir })[0]).toMatch(/^TLS_CA_FILE: cannot read .*: is a directory$/);
    expect(problems({ TLS_CA_FILE: file('junk.pem', 'hello') })[0]).toMatch(
      /^TLS_CA_FILE: .* is not a PEM certificate$/,
    );
    expect(problems({ TLS_CERT_FILE: cert, TLS_KEY_FILE: cert })).toEqual([
      `TLS_KEY_FILE: ${JSON.stringify(cert)} is not a PEM private key`,
    ]);
    expect(problems({ TLS_CERT_FILE: cert, TLS_KEY_FILE: encrypted })[0]).toMatch(
      /^TLS_KEY_FILE: .* is an encrypted key/,
    );
  });

  it('refuses a key without a certificate and a certificate without a key', () => {
    expect(problems({ TLS_KEY_FILE: key })).toEqual([
      'TLS_KEY_FILE: is set without TLS_CERT_FILE (a client certificate needs both)',
    ]);
    expect(problems({ TLS_CA_FILE: ca, TLS_CERT_FILE: cert })).toEqual([
      'TLS_CERT_FILE: is set without TLS_KEY_FILE (a client certificate needs both)',
    ]);
  });

  it('never echoes the key in an error', () => {
    const secret = file('secret.key', 'not a key but a secret: hunter2');
    const all = problems({ TLS_CERT_FILE: cert, TLS_KEY_FILE: secret }).join('\n');
    expect(all).not.toContain('hunter2');
  });
});

describe('TLS in the common config', () => {
  it('carries the files with a TLS URL', () => {
    const cfg = loadCommonConfig({ AMQP_URL: 'amqps://u:p@broker:5671', TLS_CA_FILE: ca }, 'x');
    expect(cfg.tls).toEqual({ caFile: ca });
  });

  it('has no tls at all when none is set', () => {
    expect('tls' in loadCommonConfig({}, 'x')).toBe(false);
  });

  it('refuses TLS files that no URL would use, listing them with the other problems', () => {
    let err: unknown;
    try {
      loadCommonConfig({ TLS_CA_FILE: ca, TLS_KEY_FILE: key, METRICS_PORT: 'x' }, 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const p = (err as ConfigError).problems;
    expect(p).toContain('TLS_KEY_FILE: is set without TLS_CERT_FILE (a client certificate needs both)');
    expect(p.some((x) => x.startsWith('AMQP_URL: TLS_* files are set but neither'))).toBe(true);
    expect(p.some((x) => x.startsWith('METRICS_PORT'))).toBe(true);
  });

  it('accepts TLS for MQTT only (a simulator with plain AMQP and mqtts devices)', () => {
    expect(loadCommonConfig({ MQTT_URL: 'mqtts://broker:8883', TLS_CA_FILE: ca }, 'x').tls).toEqual({
      caFile: ca,
    });
  });
});

describe('loadTlsMaterial', () => {
  it('reads the files for tls.connect', () => {
    const m = loadTlsMaterial({ caFile: ca, certFile: cert, keyFile: key });
    expect(m.ca?.toString()).toBe(CERT);
    expect(m.key?.toString()).toContain('PRIVATE KEY');
    expect(loadTlsMaterial(undefined)).toEqual({});
  });

  it('names the variable when a file has gone since the config was read', () => {
    expect(() => loadTlsMaterial({ caFile: path.join(dir, 'gone.pem') })).toThrow(
      /^TLS_CA_FILE: cannot read/,
    );
  });

  it('refuses the CHANGE-ME placeholder password of the Kubernetes base Secrets', () => {
    expect(() => loadCommonConfig({ AMQP_URL: 'amqps://svc.x:CHANGE-ME@rabbitmq:5671' }, 'x')).toThrow(
      /AMQP_URL: the password is the placeholder CHANGE-ME/,
    );
  });
});
