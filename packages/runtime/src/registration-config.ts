import type { EnvReader } from './env-reader.js';

/**
 * `open`: any well-formed serial is accepted and creates its sensors row on first contact (development).
 * `closed`: only provisioned, not revoked, serials are accepted; anything else is dead-lettered or ignored
 * (production). See docs/identity.md, "Registration modes".
 */
export const REGISTRATION_MODES = ['open', 'closed'] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

export interface RegistrationConfig {
  /** REGISTRATION (default open). */
  mode: RegistrationMode;
  /** How long a provisioned answer is trusted before it is asked again (REGISTRATION_CACHE_TTL, default 30s). */
  positiveTtlMs: number;
  /** How long an unprovisioned answer is trusted (REGISTRATION_NEGATIVE_TTL, default 2s): a device just provisioned waits at most this long. */
  negativeTtlMs: number;
  /** Serials remembered at most (REGISTRATION_CACHE_MAX, default 200000); past it the least recently used are forgotten. */
  maxEntries: number;
}

/** Reads the registration variables into `r` (problems are collected, not thrown). */
export function readRegistrationConfig(r: EnvReader): RegistrationConfig {
  return {
    mode: r.enum('REGISTRATION', REGISTRATION_MODES, 'open'),
    positiveTtlMs: r.duration('REGISTRATION_CACHE_TTL', 30_000, { min: 0, max: 3_600_000 }),
    negativeTtlMs: r.duration('REGISTRATION_NEGATIVE_TTL', 2_000, { min: 0, max: 600_000 }),
    maxEntries: r.int('REGISTRATION_CACHE_MAX', 200_000, { min: 1, max: 10_000_000 }),
  };
}

/** Per-serial state a process keeps at most (SENSOR_STATE_MAX, default 100000 sensors). */
export function readSensorStateMax(r: EnvReader, def = 100_000): number {
  return r.int('SENSOR_STATE_MAX', def, { min: 1, max: 10_000_000 });
}
