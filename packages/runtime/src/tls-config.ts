import { readFileSync } from 'node:fs';
import type { EnvReader } from './env-reader.js';

/**
 * PEM files for a TLS client (AMQP `amqps://`, MQTT `mqtts://`/`wss://`): the CA that signed the broker's
 * certificate, and optionally a client certificate and its key (X.509 authentication). Paths, not contents:
 * the clients read them on every (re)connect, so a rotated certificate (cert-manager, a renewed dev CA) is
 * picked up without a restart.
 */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** What `tls.connect` takes (amqplib and mqtt.js pass these through). */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The environment variables, and what each file must contain. */
export const TLS_ENV = {
  caFile: { name: 'TLS_CA_FILE', pem: /-----BEGIN CERTIFICATE-----/, what: 'a PEM certificate' },
  certFile: { name: 'TLS_CERT_FILE', pem: /-----BEGIN CERTIFICATE-----/, what: 'a PEM certificate' },
  keyFile: { name: 'TLS_KEY_FILE', pem: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: 'a PEM private key' },
} as const;

type Field = keyof typeof TLS_ENV;
const FIELDS = Object.keys(TLS_ENV) as Field[];

/** Why the file cannot be used, or undefined. Never echoes its content. */
function checkFile(path: string, field: Field): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : String(code ?? err);
    return `cannot read ${JSON.stringify(path)}: ${why}`;
  }
  const spec = TLS_ENV[field];
  if (!spec.pem.test(text)) return `${JSON.stringify(path)} is not ${spec.what}`;
  if (field === 'keyFile' && /ENCRYPTED/.test(text))
    return `${JSON.stringify(path)} is an encrypted key; give an unencrypted one (keep it in a 0600 file or a Secret)`;
  return undefined;
}

/**
 * Reads TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE into the reader: each set file must be readable and
 * hold PEM of the right kind; a certificate needs its key and a key its certificate. Returns undefined when
 * none is set (plain TCP, or TLS trusting the system's CAs). Server verification is never turned off.
 */
export function readTlsConfig(r: EnvReader): TlsFiles | undefined {
  const files: TlsFiles = {};
  for (const field of FIELDS) {
    const { name } = TLS_ENV[field];
    if (!r.has(name)) continue;
    const path = r.string(name);
    const bad = checkFile(path, field);
    if (bad === undefined) files[field] = path;
    else r.problem(name, bad);
  }
  const cert = r.has(TLS_ENV.certFile.name);
  const key = r.has(TLS_ENV.keyFile.name);
  if (key && !cert)
    r.problem(TLS_ENV.keyFile.name, 'is set without TLS_CERT_FILE (a client certificate needs both)');
  if (cert && !key)
    r.problem(TLS_ENV.certFile.name, 'is set without TLS_KEY_FILE (a client certificate needs both)');
  return FIELDS.some((f) => r.has(TLS_ENV[f].name)) ? files : undefined;
}

/** Whether a broker URL asks for TLS. */
export function isTlsUrl(url: string): boolean {
  try {
    return ['amqps:', 'mqtts:', 'wss:', 'ssl:', 'tls:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * The files' contents for `tls.connect`. Throws an Error naming the variable when a file has gone (read at
 * connect time: a client that retries logs it and tries again).
 */
export function loadTlsMaterial(files: TlsFiles | undefined): TlsMaterial {
  const out: TlsMaterial = {};
  if (files === undefined) return out;
  const key: Record<Field, keyof TlsMaterial> = { caFile: 'ca', certFile: 'cert', keyFile: 'key' };
  for (const field of FIELDS) {
    const path = files[field];
    if (path === undefined) continue;
    try {
      out[key[field]] = readFileSync(path);
    } catch (err) {
      throw new Error(
        `${TLS_ENV[field].name}: cannot read ${JSON.stringify(path)}: ${(err as Error).message}`,
      );
    }
  }
  return out;
}
