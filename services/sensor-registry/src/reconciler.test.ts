import type { CommandOutcome, CommandRequest, IssueOptions } from '@sensor-streaming/control';
import type { ReconcileCandidate } from '@sensor-streaming/db';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRegistryMetrics } from './metrics.js';
import { createReconciler, RECONCILE_ISSUER, reconcileRequests } from './reconciler.js';

const candidate = (o: Partial<ReconcileCandidate> = {}): ReconcileCandidate => ({
  serial: 's-1',
  desiredState: 'ASLEEP',
  desiredFrequencyHz: null,
  reportedState: 'AWAKE',
  reportedFrequencyHz: 100,
  minFrequencyHz: 1,
  maxFrequencyHz: 1000,
  ...o,
});

describe('reconcileRequests', () => {
  it('sends sleep when desired ASLEEP but reported AWAKE, awake for the reverse', () => {
    expect(reconcileRequests(candidate())).toEqual([{ type: 'sleep' }]);
    expect(reconcileRequests(candidate({ desiredState: 'AWAKE', reportedState: 'ASLEEP' }))).toEqual([
      { type: 'awake' },
    ]);
  });

  it('sends the frequency first, then the state', () => {
    expect(reconcileRequests(candidate({ desiredFrequencyHz: 50 }))).toEqual([
      { type: 'changesamplefrequency', sampleFrequencyHz: 50 },
      { type: 'sleep' },
    ]);
  });

  it('sends nothing when they agree (float noise included) or the frequency is outside the range', () => {
    expect(reconcileRequests(candidate({ desiredState: 'AWAKE', desiredFrequencyHz: 100 + 1e-12 }))).toEqual(
      [],
    );
    expect(reconcileRequests(candidate({ desiredState: null, desiredFrequencyHz: 5000 }))).toEqual([]);
    expect(reconcileRequests(candidate({ desiredState: null, desiredFrequencyHz: 0.5 }))).toEqual([]);
    expect(reconcileRequests(candidate({ reportedState: 'OFFLINE' }))).toEqual([]);
  });
});

describe('createReconciler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    const issued: Array<{ serials: readonly string[]; request: CommandRequest; opts: IssueOptions }> = [];
    const commander = {
      issue: async (serials: readonly string[], request: CommandRequest, opts: IssueOptions) => {
        issued.push({ serials, request, opts });
        return serials.map(
          (serial): CommandOutcome => ({
            serial,
            commandId: 'c',
            type: request.type,
            status: 'PUBLISHED',
            reason: '',
            rttMs: null,
          }),
        );
      },
    };
    const reconciler = createReconciler({
      commander,
      minIntervalMs: 10_000,
      ttlMs: 60_000,
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics: createRegistryMetrics(new Registry()),
    });
    return { issued, reconciler };
  }

  it('issues through the commander as registry:reconcile without waiting, grouped by command', async () => {
    const { issued, reconciler } = setup();
    reconciler.consider([candidate({ serial: 'a' }), candidate({ serial: 'b' })]);
    await reconciler.drain();
    expect(issued).toEqual([
      {
        serials: ['a', 'b'],
        request: { type: 'sleep' },
        opts: { issuedBy: RECONCILE_ISSUER, ttlMs: 60_000, wait: false },
      },
    ]);
  });

  it('reconciles one sensor at most once per interval, again after it', async () => {
    const { issued, reconciler } = setup();
    reconciler.consider([candidate()]);
    vi.advanceTimersByTime(9_999);
    reconciler.consider([candidate()]);
    await reconciler.drain();
    expect(issued).toHaveLength(1);
    vi.advanceTimersByTime(1);
    reconciler.consider([candidate()]);
    await reconciler.drain();
    expect(issued).toHaveLength(2);
  });

  it('prunes rate-limit entries older than the interval', () => {
    const { reconciler } = setup();
    reconciler.consider([candidate({ serial: 'a' })]);
    vi.advanceTimersByTime(5_000);
    reconciler.consider([candidate({ serial: 'b' })]);
    vi.advanceTimersByTime(5_000);
    reconciler.prune();
    expect(reconciler.limited).toBe(1);
  });
});
