import { describe, expect, it } from 'vitest';
import { type ExpandOptions, expandGrafanaSql, formatInterval, parseInterval } from './grafana-macros.js';

const opts = (over: Partial<ExpandOptions> = {}): ExpandOptions => ({
  from: new Date('2026-01-02T03:00:00.000Z'),
  to: new Date('2026-01-02T04:00:00.000Z'),
  intervalMs: 60_000,
  timescaledb: true,
  variables: {
    serial: { multi: false, values: ["o'brien-1"] },
    channel: { multi: true, values: ['vibration', "it's"] },
  },
  ...over,
});

describe('expandGrafanaSql', () => {
  it('expands the time macros the way the PostgreSQL datasource does', () => {
    expect(expandGrafanaSql('WHERE $__timeFilter(time)', opts())).toBe(
      "WHERE time BETWEEN '2026-01-02T03:00:00.000Z' AND '2026-01-02T04:00:00.000Z'",
    );
    expect(expandGrafanaSql('$__timeFrom() $__timeTo()', opts())).toBe(
      "'2026-01-02T03:00:00.000Z' '2026-01-02T04:00:00.000Z'",
    );
    expect(expandGrafanaSql('$__unixEpochFilter(ts)', opts())).toBe('ts >= 1767322800 AND ts <= 1767326400');
  });

  it('uses time_bucket for $__timeGroup when the datasource has timescaledb set, epoch arithmetic otherwise', () => {
    expect(expandGrafanaSql("SELECT $__timeGroupAlias(time, '5m')", opts())).toBe(
      `SELECT time_bucket('300.000s',time) AS "time"`,
    );
    expect(expandGrafanaSql('SELECT $__timeGroup(time, $__interval)', opts({ timescaledb: false }))).toBe(
      'SELECT floor(extract(epoch from time)/60)*60',
    );
  });

  it('escapes single-value variables and quotes multi-value ones, like Grafana for SQL datasources', () => {
    expect(expandGrafanaSql("serial = '$serial' AND channel IN ($channel)", opts())).toBe(
      "serial = 'o''brien-1' AND channel IN ('vibration','it''s')",
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${var} syntax
    expect(expandGrafanaSql("'${serial}' [[serial]] ${channel:csv}", opts())).toBe(
      "'o''brien-1' o''brien-1 vibration,it's",
    );
  });

  it('fails on an unknown macro, an undefined variable, or anything left unexpanded', () => {
    expect(() => expandGrafanaSql('$__timeFilterr(time)', opts())).toThrow(/unknown macro/);
    expect(() => expandGrafanaSql("serial = '$serail'", opts())).toThrow(
      /unknown template variable \$serail/,
    );
    expect(() => expandGrafanaSql('$__timeGroup(time)', opts())).toThrow(/needs/);
  });

  it('formats and parses Grafana intervals', () => {
    expect(formatInterval(60_000)).toBe('1m');
    expect(formatInterval(1500)).toBe('1500ms');
    expect(parseInterval("'1h'")).toBe(3_600_000);
    expect(() => parseInterval('soon')).toThrow(/invalid interval/);
  });
});
