import { createHash, randomBytes } from 'node:crypto';

/**
 * A password hash in RabbitMQ's internal format (`rabbit_password_hashing_sha256`):
 * base64(salt ++ sha256(salt ++ password)) with a 4-byte salt. Lets
 * provisioning import thousands of users in one definitions request without
 * sending their secrets to the broker. Device secrets are 256-bit random
 * (see generateSecret), so a fast hash is enough: nothing to brute-force.
 */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  if (salt.length !== 4) throw new RangeError('rabbitPasswordHash: salt must be 4 bytes');
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** Checks a password against a hash made by rabbitPasswordHash (constant-time compare not needed for tests). */
export function verifyRabbitPasswordHash(password: string, hash: string): boolean {
  const raw = Buffer.from(hash, 'base64');
  if (raw.length !== 36) return false;
  return rabbitPasswordHash(password, raw.subarray(0, 4)) === hash;
}

/** A device secret: 32 random bytes, base64url (43 characters, no `,` `:` or `/`). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}
