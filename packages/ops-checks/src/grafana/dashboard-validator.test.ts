import { describe, expect, it } from 'vitest';
import { collectQueries } from './dashboard-queries.js';
import { referencedVariables, validateDashboards } from './dashboard-validator.js';
import { type DashboardFile, loadDashboards, loadProvisionedDatasources } from './grafana-files.js';
import { promqlProblems } from './promql.js';

const dashboards = loadDashboards();
const datasources = loadProvisionedDatasources();
const clone = (d: DashboardFile): DashboardFile => ({ file: d.file, json: structuredClone(d.json) });
// biome-ignore lint/suspicious/noExplicitAny: test mutations reach into untyped dashboard JSON
type AnyJson = any;

function withChange(file: string, change: (j: AnyJson) => void): DashboardFile[] {
  return dashboards.map((d) => {
    if (d.file !== file) return d;
    const c = clone(d);
    change(c.json);
    return c;
  });
}

describe('the dashboards in grafana/dashboards', () => {
  it('are the five the issue asks for', () => {
    expect(dashboards.map((d) => d.json.uid).sort()).toEqual([
      'sensor-streaming-alarms',
      'sensor-streaming-database',
      'sensor-streaming-fleet',
      'sensor-streaming-pipeline',
      'sensor-streaming-sensor',
    ]);
  });

  it('pass the schema and every cross-reference check', () => {
    expect(validateDashboards(dashboards, datasources)).toEqual([]);
  });

  it('query only the provisioned TimescaleDB and Prometheus datasources', () => {
    const uids = new Set(dashboards.flatMap((d) => collectQueries(d).map((q) => q.datasource?.uid)));
    expect([...uids].sort()).toEqual(['prometheus', 'timescaledb']);
    expect(datasources.map((d) => d.uid).sort()).toEqual(['prometheus', 'timescaledb']);
  });

  it('name only metrics from docs/internal-api.md or RabbitMQ in Prometheus queries', () => {
    const metrics = dashboards
      .flatMap((d) => collectQueries(d))
      .filter((q) => q.kind === 'prometheus')
      .flatMap((q) => [...q.text.matchAll(/\b(sensor_streaming_\w+|rabbitmq_\w+)/g)].map((m) => m[1]!));
    const documented = [
      'samples_received_total',
      'samples_written_total',
      'samples_published_total',
      'messages_received_total',
      'messages_rejected_total',
      'log_entries_written_total',
      'batch_size',
      'write_duration_seconds',
      'e2e_lag_seconds',
      'sensors',
      'commands_total',
      'command_rtt_seconds',
      'alarms_total',
      'bus_reconnects_total',
      'bus_connection_blocked',
      'bus_confirm_failures_total',
      'bus_dead_lettered_total',
    ].map((m) => `sensor_streaming_${m}`);
    for (const m of metrics) {
      if (m.startsWith('rabbitmq_')) {
        expect(m).toMatch(/^rabbitmq_detailed_queue_messages(_ready|_unacked)?$/);
      } else {
        expect(documented, m).toContain(m.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    expect(metrics.length).toBeGreaterThan(20);
  });
});

describe('Prometheus queries', () => {
  it('all parse as PromQL', () => {
    const exprs = dashboards.flatMap((d) => collectQueries(d)).filter((q) => q.kind === 'prometheus');
    expect(exprs.length).toBeGreaterThan(20);
    expect(
      exprs.flatMap((q) => promqlProblems(q.text).map((p) => `${q.dashboard} ${q.where}: ${p}`)),
    ).toEqual([]);
  });

  it('a syntax error or an unknown variable is reported', () => {
    expect(promqlProblems('sum(rate(sensor_streaming_samples_written_total[$__rate_interval])')).not.toEqual(
      [],
    );
    expect(promqlProblems('rate(x[$window])')).toEqual(['unknown variable in "rate(x[$window])"']);
    expect(
      promqlProblems('histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))'),
    ).toEqual([]);
  });
});

describe('validateDashboards catches', () => {
  const problems = (ds: DashboardFile[]) => validateDashboards(ds, datasources).join('\n');

  it('a duplicate uid', () => {
    expect(problems(withChange('alarms.json', (j) => (j.uid = 'sensor-streaming-fleet')))).toMatch(
      /uid sensor-streaming-fleet also used by/,
    );
  });

  it('a datasource that is not provisioned, or provisioned with another type', () => {
    expect(
      problems(withChange('alarms.json', (j) => (j.panels[0].targets[0].datasource.uid = 'influx'))),
    ).toMatch(/datasource uid "influx" is not provisioned/);
    expect(problems(withChange('alarms.json', (j) => (j.panels[0].datasource.type = 'prometheus')))).toMatch(
      /has type grafana-postgresql-datasource, not prometheus/,
    );
  });

  it('an undefined variable, and a variable used before it is defined', () => {
    expect(
      problems(
        withChange('sensor-detail.json', (j) => (j.panels[1].targets[0].rawSql += " AND '$sensor' = ''")),
      ),
    ).toMatch(/uses undefined variable \$sensor/);
    expect(problems(withChange('sensor-detail.json', (j) => j.templating.list.reverse()))).toMatch(
      /variable channel uses \$serial, which is not defined before it/,
    );
  });

  it('overlapping or out-of-grid panels and duplicate ids', () => {
    expect(
      problems(withChange('pipeline.json', (j) => (j.panels[1].gridPos = { ...j.panels[0].gridPos }))),
    ).toMatch(/overlaps panel 1/);
    expect(problems(withChange('pipeline.json', (j) => (j.panels[1].gridPos.x = 20)))).toMatch(
      /> 24 columns/,
    );
    expect(problems(withChange('pipeline.json', (j) => (j.panels[1].id = 1)))).toMatch(
      /duplicate panel id 1/,
    );
  });

  it('schema violations: a SQL target without rawSql, an unknown panel type, a missing title', () => {
    expect(problems(withChange('alarms.json', (j) => delete j.panels[0].targets[0].rawSql))).toMatch(
      /must have required property 'rawSql'/,
    );
    expect(problems(withChange('alarms.json', (j) => (j.panels[0].type = 'graph-old')))).toMatch(
      /schema: \/panels\/0\/type/,
    );
    expect(problems(withChange('alarms.json', (j) => delete j.title))).toMatch(/required property 'title'/);
  });
});

describe('referencedVariables', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${var} syntax
  it('finds $x, ${x}, ${x:fmt} and [[x]] but not macros', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${var} syntax
    expect(referencedVariables("$a ${b} ${c:csv} [[d]] $__timeFilter(time) '${__value.raw}'")).toEqual([
      'a',
      'b',
      'c',
      'd',
      '__value',
    ]);
  });
});
