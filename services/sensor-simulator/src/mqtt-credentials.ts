import { isValidSerial } from '@sensor-streaming/protocol';
import type { MqttCredential } from './transport.js';

/**
 * Parses the secrets file `iotctl sensors provision --from` writes: CSV with
 * the header `serial,username,password` (no quoting: none of the three can
 * hold a comma). Throws naming the first bad line.
 */
export function parseMqttCredentials(text: string, source = 'credentials file'): Map<string, MqttCredential> {
  const out = new Map<string, MqttCredential>();
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.trim();
  if (header !== 'serial,username,password')
    throw new Error(
      `${source}: line 1 must be the header serial,username,password, got ${JSON.stringify(header)}`,
    );
  for (const [i, raw] of lines.entries()) {
    if (i === 0 || raw.trim() === '') continue;
    const parts = raw.split(',');
    const [serial, username, password] = parts;
    if (parts.length !== 3 || !serial || !username || !password)
      throw new Error(`${source}: line ${i + 1}: expected serial,username,password`);
    if (!isValidSerial(serial))
      throw new Error(`${source}: line ${i + 1}: invalid serial ${JSON.stringify(serial)}`);
    if (out.has(serial)) throw new Error(`${source}: line ${i + 1}: serial ${serial} appears twice`);
    out.set(serial, { username, password });
  }
  return out;
}

/** Which of `serials` run as MQTT devices for a share in 0..1: spread evenly, deterministic. */
export function mqttSerials(serials: readonly string[], share: number): Set<string> {
  const out = new Set<string>();
  for (const [i, s] of serials.entries()) if (Math.floor((i + 1) * share) > Math.floor(i * share)) out.add(s);
  return out;
}
