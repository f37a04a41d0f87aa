import { type FuzzReport, fuzzProtocol as run } from '@sensor-streaming/protocol/testing';

/** Inputs per decoder and validator in a fault run. */
export const DEFAULT_FUZZ_ITERATIONS = 100_000;

export function fuzzProtocol(o: { iterations: number; seed: number }): FuzzReport {
  return run(o);
}
