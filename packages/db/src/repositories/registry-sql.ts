// SQL fragments and types shared by the registry's repositories (registry-states.ts, registry-commands.ts,
// registry-sensors.ts). Times are integer microseconds since the Unix epoch.

export type RegistryPowerState = 'AWAKE' | 'ASLEEP' | 'OFFLINE';
export type RegistryCommandType = 'sleep' | 'awake' | 'changesamplefrequency';
export type RegistryCommandStatus = 'ISSUED' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'TIMED_OUT';

/** `$n` µs since the epoch, as timestamptz. */
export const ts = (expr: string): string =>
  `(timestamptz 'epoch' + (${expr})::bigint * interval '1 microsecond')`;
/** A timestamptz column as µs since the epoch (bigint, read as string). */
export const us = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::bigint`;
