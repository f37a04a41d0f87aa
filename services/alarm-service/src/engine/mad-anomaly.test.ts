import { describe, expect, it } from 'vitest';
import { parseRuleFile } from '../rules/rule-set.js';
import { createNoise } from '../testing/signals.js';
import { type AlarmDecision, RuleEngine } from './rule-engine.js';

const S = 1_000_000;
const T0 = 1_700_000_000 * S;
const RULES = `
version: mad-1
rules:
  - { id: a, type: anomaly, channel: x, alpha: 0.01, zScore: 6, clearZScore: 3, warmupSamples: 100, chatter: false }
overrides:
  # a second model, selected per serial here (or per kind / label like any override)
  - { rule: a, match: { serials: [robust] }, set: { model: mad } }
`;

/** 3 minutes at 10 Hz: a heavy-tailed first minute (outliers), then calm, then a lasting +6 shift at 120 s. */
function run(engine: RuleEngine, serial: string): AlarmDecision[] {
  const noise = createNoise(4);
  const out: AlarmDecision[] = [];
  for (let s = 0; s < 180; s++) {
    const values = Array.from({ length: 10 }, (_, i) => {
      let v = 100 + noise();
      if (s < 60 && (s * 10 + i) % 7 === 0) v += 30 * noise();
      if (s >= 120) v += 6;
      return v;
    });
    out.push(
      ...engine.onBatch(
        {
          serial,
          channel: 'x',
          unit: '',
          sequence: s,
          firstSampleTimeUs: T0 + s * S,
          samplePeriodNs: 1e8,
          values,
        },
        T0 + s * S,
      ),
    );
  }
  return out;
}

describe('RuleEngine: a second anomaly model (robust median / MAD), selectable per sensor', () => {
  it('MAD flags outliers the EWMA variance has absorbed, and holds a lasting shift the EWMA learns away', () => {
    const engine = new RuleEngine({ rules: parseRuleFile(RULES, 'yaml') });
    const plain = run(engine, 'plain');
    const robust = run(engine, 'robust');
    const at = (d: AlarmDecision) => (d.timeUs - T0) / S;
    const raisesBefore = (ds: AlarmDecision[], s: number) =>
      ds.filter((d) => d.kind === 'RAISE' && at(d) < s).length;
    // heavy-tailed minute: the EWMA learned a wide variance and sees nothing; MAD keeps a tight bound
    expect(raisesBefore(plain, 60)).toBe(0);
    expect(raisesBefore(robust, 60)).toBeGreaterThan(10);
    // the shift at 120 s: both raise; the EWMA clears within 2 s, MAD holds it until the median has moved
    const shift = (ds: AlarmDecision[]) => {
      const raise = ds.find((d) => d.kind === 'RAISE' && at(d) >= 120) as AlarmDecision;
      const clear = ds.find((d) => d.kind === 'CLEAR' && d.timeUs > raise.timeUs);
      return ((clear?.timeUs ?? T0 + 180 * S) - raise.timeUs) / S;
    };
    expect(shift(plain)).toBeLessThan(2);
    expect(shift(robust)).toBeGreaterThan(15);
  });
});
