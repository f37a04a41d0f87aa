import { describe, expect, it } from 'vitest';
import { fuzzProtocol } from './fuzz.js';

// `pnpm test:faults` runs 100,000 inputs per decoder; here a few thousand keep `pnpm test` quick.
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3000);

describe('protocol fuzzing', () => {
  it('lets only ProtocolError escape any decoder or validator, and re-encodes every accepted message to an equal one', () => {
    const report = fuzzProtocol({ iterations: ITERATIONS, seed: 0xfa017 });
    expect(report.problems).toEqual([]);
    expect(report.results.map((r) => r.decoder)).toEqual([
      'MeasurementBatch',
      'LogBatch',
      'SensorState',
      'Command',
      'CommandAck',
      'Alarm',
      'parseRoutingKey',
      'assertSerial',
      'wireFormatOf',
    ]);
    for (const r of report.results) {
      expect(r.inputs, r.decoder).toBe(ITERATIONS);
      expect(r.accepted + r.rejected, r.decoder).toBe(r.inputs);
      // the generators reach both sides of every decoder
      expect(r.accepted, `${r.decoder} accepted`).toBeGreaterThan(0);
      expect(r.rejected, `${r.decoder} rejected`).toBeGreaterThan(0);
    }
  }, 120_000);
});
