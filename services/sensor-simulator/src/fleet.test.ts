import { describe, expect, it } from 'vitest';
import { generateSerials } from './config.js';
import { buildFleet } from './fleet.js';

const mix = [
  { kind: 'vibration' as const, weight: 0.5 },
  { kind: 'environment' as const, weight: 0.3 },
  { kind: 'process' as const, weight: 0.2 },
];

describe('buildFleet', () => {
  it('follows the kind mix', () => {
    const fleet = buildFleet({ serials: generateSerials('sim', 0, 4000), kindMix: mix, seed: 1 });
    const share = (k: string): number => fleet.filter((s) => s.kind === k).length / fleet.length;
    expect(share('vibration')).toBeCloseTo(0.5, 1);
    expect(share('environment')).toBeCloseTo(0.3, 1);
    expect(share('process')).toBeCloseTo(0.2, 1);
  });

  it('makes a sensor depend only on the seed and its serial', () => {
    const a = buildFleet({ serials: ['sim-0-1', 'sim-0-2'], kindMix: mix, seed: 7 });
    const b = buildFleet({ serials: ['other', 'sim-0-2'], kindMix: mix, seed: 7 });
    expect(b[1]).toEqual(a[1]);
    const c = buildFleet({ serials: ['sim-0-2'], kindMix: mix, seed: 8 });
    expect(c[0]!.seed).not.toBe(a[1]!.seed);
  });

  it('assigns faults by probability and by explicit serial', () => {
    const serials = generateSerials('sim', 0, 2000);
    const fleet = buildFleet({
      serials,
      kindMix: mix,
      seed: 1,
      faultProbabilities: { spike: 0.1 },
      faultSerials: { 'sim-0-3': ['drift', 'dropout'] },
    });
    const spiky = fleet.filter((s) => s.faults.includes('spike')).length / fleet.length;
    expect(spiky).toBeGreaterThan(0.07);
    expect(spiky).toBeLessThan(0.13);
    expect(fleet[3]!.faults).toEqual(expect.arrayContaining(['drift', 'dropout']));
  });

  it('labels each sensor with a machine of its kind and a firmware', () => {
    for (const s of buildFleet({ serials: generateSerials('sim', 0, 50), kindMix: mix, seed: 1 })) {
      expect(s.machine).toMatch(/^[a-z-]+-\d{2}$/);
      expect(s.firmware).toMatch(/^(vib|env|proc)-\d+\.\d+\.\d+$/);
    }
  });
});
