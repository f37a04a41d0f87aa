import { describe, expect, it, vi } from 'vitest';
import { MigrationConfigError } from '../errors.js';
import type { MigrationSession } from './migration-target.js';
import { type TimescaleProbe, timescalePreflight } from './timescale-preflight.js';

function fakeSession(probe: TimescaleProbe, onDemand = false) {
  const queries: string[] = [];
  const session: MigrationSession = {
    async query<R extends object>(text: string) {
      queries.push(text);
      return { rows: (text.includes('pg_available_extensions') ? [probe] : []) as R[] };
    },
    async exec() {},
    release() {},
    loadsExtensionsOnDemand: onDemand,
  };
  return { session, queries };
}

const logger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });
const notPreloaded: TimescaleProbe = { mode: 'auto', available: true, installed: false, loaded: false };

describe('timescalePreflight', () => {
  it('given auto and TimescaleDB installed but not preloaded, warns once with the fix and switches the session to off', async () => {
    const { session, queries } = fakeSession(notPreloaded);
    const log = logger();
    const probe = await timescalePreflight(session, log);
    expect(probe.mode).toBe('off');
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.warn.mock.calls[0]?.[1]).toMatch(/not preloaded.*shared_preload_libraries/);
    expect(queries.at(-1)).toContain("set_config('sensor_streaming.timescaledb', 'off', false)");
  });

  it('given on and TimescaleDB not preloaded, fails with one line naming the fix', async () => {
    const { session } = fakeSession({ ...notPreloaded, mode: 'on' });
    const err = await timescalePreflight(session, logger()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationConfigError);
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message).toMatch(/timescaledb = on.*shared_preload_libraries/);
  });

  it.each([
    ['not available', { ...notPreloaded, available: false }],
    ['preloaded', { ...notPreloaded, loaded: true }],
    ['already installed in this database', { ...notPreloaded, installed: true }],
    ['mode off', { ...notPreloaded, mode: 'off' }],
  ])('given %s, changes nothing', async (_name, probe) => {
    const { session, queries } = fakeSession(probe);
    const log = logger();
    await timescalePreflight(session, log);
    expect(log.warn).not.toHaveBeenCalled();
    expect(queries).toHaveLength(1);
  });

  it('given a target that loads extensions on demand (PGlite), leaves CREATE EXTENSION to the migration', async () => {
    const { session, queries } = fakeSession(notPreloaded, true);
    const log = logger();
    await timescalePreflight(session, log);
    expect(log.warn).not.toHaveBeenCalled();
    expect(queries).toHaveLength(1);
  });
});
