import type { FaultKind } from './faults.js';
import { FAULT_KINDS } from './faults.js';
import { SITES } from './position.js';
import { createPrng, hashString } from './prng.js';
import type { SensorSpec } from './sensor.js';
import { KINDS } from './signals/index.js';
import type { SensorKind } from './signals/signal-model.js';

export interface FleetOptions {
  serials: readonly string[];
  kindMix: ReadonlyArray<{ kind: SensorKind; weight: number }>;
  sampleFrequencyHz?: number | undefined;
  faultProbabilities?: Partial<Record<FaultKind, number>>;
  faultSerials?: Readonly<Record<string, readonly FaultKind[]>>;
  seed: number;
}

/**
 * Builds the spec of every sensor. Each sensor's kind, site, machine,
 * firmware and faults depend only on the seed and its serial, so the same
 * serial is the same sensor across restarts and whatever the other serials.
 */
export function buildFleet(opts: FleetOptions): SensorSpec[] {
  if (opts.kindMix.length === 0) throw new RangeError('kindMix is empty');
  return opts.serials.map((serial) => {
    const seed = (hashString(serial) ^ Math.imul(opts.seed, 0x9e3779b1)) >>> 0;
    const prng = createPrng(seed);
    let u = prng.next();
    let kind = opts.kindMix[opts.kindMix.length - 1]!.kind;
    for (const m of opts.kindMix) {
      if (u < m.weight) {
        kind = m.kind;
        break;
      }
      u -= m.weight;
    }
    const spec = KINDS[kind];
    const site = SITES[prng.int(SITES.length)]!;
    const machineType = spec.machines[prng.int(spec.machines.length)]!;
    const machine = `${machineType}-${String(1 + prng.int(20)).padStart(2, '0')}`;
    const firmware = spec.firmware[prng.int(spec.firmware.length)]!;
    const faults = new Set<FaultKind>(opts.faultSerials?.[serial] ?? []);
    for (const f of FAULT_KINDS) {
      const p = opts.faultProbabilities?.[f] ?? 0;
      // Always draw, so one probability does not shift the others' draws.
      if (prng.next() < p) faults.add(f);
    }
    const s: SensorSpec = { serial, kind, site, machine, firmware, faults: [...faults], seed };
    if (opts.sampleFrequencyHz !== undefined) s.frequencyHz = opts.sampleFrequencyHz;
    return s;
  });
}
