import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_METRICS_PORTS } from '@sensor-streaming/runtime';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  definitionsProblems,
  type RabbitDefinitions,
  rabbitPasswordMatches,
} from '../rabbitmq-definitions.js';
import { repoRoot } from '../repo-root.js';
import { composeBrokerSecurityProblems } from './compose-broker-security.js';
import {
  bindMounts,
  type ComposeFile,
  composeProblems,
  composeSpecValidator,
  interpolate,
  loadCompose,
  parseComposeDuration,
  scalingProblems,
} from './compose-file.js';

const root = repoRoot();
const doc = loadCompose(root);
const APP_SERVICES = Object.keys(DEFAULT_METRICS_PORTS);
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
const mountSource = (service: string, target: string) =>
  bindMounts(doc).find((m) => m.service === service && m.target === target)?.source;

// Docker Compose itself, where a compose binary is installed (no engine is needed for `config`).
const composeCommand = ((): string[] | undefined => {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    if (spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore' }).status === 0) return cmd;
  }
  return undefined;
})();

describe('compose.yaml', () => {
  it('is valid against the Compose Specification JSON schema', () => {
    expect(composeSpecValidator()(doc)).toEqual([]);
  });

  it.skipIf(!composeCommand)('is accepted by `docker compose config` (when Compose is installed)', () => {
    const [cmd, ...args] = composeCommand!;
    const out = execFileSync(cmd!, [...args, '-f', path.join(root, 'compose.yaml'), 'config', '-q'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('');
  });

  it('has no dangling depends_on, missing mounted file, clashing port, unhealthchecked or non-restarting service', () => {
    expect(composeProblems(doc, root)).toEqual([]);
  });

  it('runs every service from the one Dockerfile with SERVICE, on its documented METRICS_PORT, after the migrations', () => {
    for (const name of APP_SERVICES) {
      const s = doc.services[name];
      expect(s, name).toBeDefined();
      expect(s?.build?.args?.SERVICE, name).toBe(name);
      expect(s?.build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
      expect(read(`services/${name}/package.json`)).toContain(`"@sensor-streaming/${name}"`);
      expect(s?.environment?.METRICS_PORT, name).toBe(String(DEFAULT_METRICS_PORTS[name]));
      expect(JSON.stringify(s?.healthcheck?.test)).toMatch(/METRICS_PORT.*\/readyz/);
      for (const v of ['AMQP_URL', 'LOG_LEVEL'])
        expect(s?.environment?.[v], `${name} ${v}`).toBeTypeOf('string');
    }
    for (const name of APP_SERVICES.filter((n) => n !== 'sensor-simulator')) {
      expect(doc.services[name]?.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
      });
      expect(doc.services[name]?.environment?.DATABASE_URL).toMatch(
        /^postgres:\/\/.+@timescaledb:5432\/sensor_streaming$/,
      );
    }
    expect(doc.services.migrate?.command).toEqual(['node', 'packages/db/dist/bin/migrate.js']);
    expect(read('packages/db/src/bin/migrate.ts').length).toBeGreaterThan(0);
  });

  it('lets the simulator scale with distinct serials per replica', () => {
    expect(scalingProblems(doc, 'sensor-simulator')).toEqual([]);
    const s = doc.services['sensor-simulator']!;
    // no ordinal in Compose: the entrypoint derives SIMULATOR_INDEX (see simulator-index below)
    expect(s.entrypoint).toEqual(['simulator-index']);
    expect(s.environment?.SIMULATOR_INDEX).toBeUndefined();
    expect(s.environment?.SIMULATOR_INDEX_FROM_HOSTNAME).toBeUndefined();
    // SENSOR_COUNT comes from the caller's environment
    expect(s.environment?.SENSOR_COUNT).toBe('25');
    expect(
      loadCompose(root, { SENSOR_COUNT: '7' }).services['sensor-simulator']?.environment?.SENSOR_COUNT,
    ).toBe('7');
  });

  it('runs RabbitMQ 3.13 with management, MQTT and Prometheus plugins and the platform topology from definitions', () => {
    const r = doc.services.rabbitmq!;
    expect(r.image).toMatch(/^rabbitmq:3\.13(\.\d+)?-management$/);
    const plugins = read(mountSource('rabbitmq', '/etc/rabbitmq/enabled_plugins')!);
    for (const p of [
      'rabbitmq_management',
      'rabbitmq_mqtt',
      'rabbitmq_prometheus',
      'rabbitmq_consistent_hash_exchange', // INGEST_SHARDS > 1
    ])
      expect(plugins).toContain(p);
    for (const svc of ['measurements-ingester', 'logs-ingester'])
      expect(Number(doc.services[svc]?.environment?.INGEST_SHARDS)).toBeGreaterThan(1);
    const conf = read(mountSource('rabbitmq', '/etc/rabbitmq/conf.d/20-sensor-streaming.conf')!);
    const definitionsPath = /^load_definitions\s*=\s*(\S+)/m.exec(conf)?.[1];
    expect(definitionsPath).toBe('/etc/rabbitmq/definitions.json');
    expect(conf).toMatch(/^mqtt\.listeners\.tcp\.default\s*=\s*1883$/m);
    const definitions = JSON.parse(read(mountSource('rabbitmq', definitionsPath!)!)) as RabbitDefinitions;
    expect(definitionsProblems(definitions)).toEqual([]);
    // the registry's AMQP_URL credentials are its own user of the definitions, with the right password
    const url = new URL(String(doc.services['sensor-registry']?.environment?.AMQP_URL));
    expect(decodeURIComponent(url.username)).toBe('svc.sensor-registry');
    const user = definitions.users?.find((u) => u.name === decodeURIComponent(url.username));
    expect(user, 'AMQP_URL user in definitions').toBeDefined();
    expect(rabbitPasswordMatches(user!.password_hash, decodeURIComponent(url.password))).toBe(true);
    expect(definitions.users?.map((u) => u.name)).not.toContain('guest');
  });

  it('runs every service as its own user over TLS with the dev CA; the broker refuses anonymous MQTT and may open 65536 files', () => {
    expect(composeBrokerSecurityProblems(doc, root)).toEqual([]);
    for (const s of [...APP_SERVICES, 'iotctl'])
      expect(String(doc.services[s]?.environment?.AMQP_URL), s).toMatch(
        /^amqps:\/\/[^:]+:[^@]+@rabbitmq:5671$/,
      );
    expect(doc.services.certs?.entrypoint).toContain('/dev-certs.sh');
  });

  it('runs TimescaleDB >= 2.18.1 with pg_stat_statements preloaded', () => {
    const t = doc.services.timescaledb!;
    const m = /^timescale\/timescaledb(?:-ha)?:(\d+)\.(\d+)\.(\d+)-pg(\d+)$/.exec(String(t.image));
    expect(m, String(t.image)).not.toBeNull();
    const [major, minor, patch, pg] = m!.slice(1).map(Number) as [number, number, number, number];
    expect(major * 10_000 + minor * 100 + patch).toBeGreaterThanOrEqual(2 * 10_000 + 18 * 100 + 1);
    expect(pg).toBeGreaterThanOrEqual(15);
    expect((t.command as string[]).join(' ')).toMatch(
      /shared_preload_libraries=timescaledb,pg_stat_statements/,
    );
  });

  it('has Prometheus scrape every service on its metrics port (every replica) and RabbitMQ', () => {
    const config = parseYaml(read(mountSource('prometheus', '/etc/prometheus/prometheus.yml')!)) as {
      scrape_configs: Array<{
        job_name: string;
        dns_sd_configs?: Array<{ names: string[]; port: number }>;
        static_configs?: Array<{ targets: string[] }>;
      }>;
    };
    for (const name of APP_SERVICES) {
      const job = config.scrape_configs.find((j) => j.job_name === name);
      expect(job?.dns_sd_configs?.[0], name).toMatchObject({
        names: [name],
        port: DEFAULT_METRICS_PORTS[name],
      });
    }
    const targets = config.scrape_configs.flatMap((j) => j.static_configs?.flatMap((s) => s.targets) ?? []);
    expect(targets).toContain('rabbitmq:15692');
    expect(config.scrape_configs.map((j) => j.job_name)).toContain('rabbitmq-queues');
  });

  it('gives Grafana the provisioning, the dashboards where the provider looks, and every variable the datasources use', () => {
    expect(mountSource('grafana', '/etc/grafana/provisioning')).toBe('./grafana/provisioning');
    const provider = parseYaml(read('grafana/provisioning/dashboards/sensor-streaming.yaml')) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(mountSource('grafana', provider.providers[0]!.options.path)).toBe('./grafana/dashboards');
    const datasources = read('grafana/provisioning/datasources/sensor-streaming.yaml');
    const used = [...datasources.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(3);
    for (const v of used) expect(doc.services.grafana?.environment?.[v], v).toBeTypeOf('string');
  });
});

describe('composeProblems catches', () => {
  const mutate = (change: (d: ComposeFile) => void): string[] => {
    const copy = structuredClone(doc);
    change(copy);
    return composeProblems(copy, root);
  };

  it('a depends_on target that does not exist', () => {
    expect(
      mutate((d) => (d.services['logs-ingester']!.depends_on = { rabit: { condition: 'service_started' } })),
    ).toContain('service logs-ingester: depends_on rabit, which is not a service');
  });

  it('a service without healthcheck or restart, and a one-shot that restarts', () => {
    const problems = mutate((d) => {
      delete d.services['alarm-service']!.healthcheck;
      delete d.services['alarm-service']!.restart;
      d.services.migrate!.restart = 'on-failure';
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'service alarm-service: has no healthcheck',
        'service alarm-service: has no restart policy',
        expect.stringMatching(/^service migrate: is a one-shot/),
      ]),
    );
  });

  it('a missing mounted file, a clashing host port and a non-string environment value', () => {
    const problems = mutate((d) => {
      d.services.prometheus!.volumes = [
        './deploy/compose/prometheus/missing.yml:/etc/prometheus/prometheus.yml:ro',
      ];
      d.services.grafana!.ports = ['9090:3000'];
      d.services['sensor-registry']!.environment!.METRICS_PORT = 9101;
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'service prometheus: bind mount source ./deploy/compose/prometheus/missing.yml does not exist',
        'service grafana: host port 9090 also published by prometheus',
        'service sensor-registry: environment METRICS_PORT is a number, not a string (quote it)',
      ]),
    );
  });

  it('a pg_isready healthcheck over the Unix socket, a stop grace shorter than the shutdown budget, a migrate that does not retry', () => {
    const problems = mutate((d) => {
      d.services.timescaledb!.healthcheck!.test = ['CMD', 'pg_isready', '-U', 'postgres'];
      d.services['sensor-simulator']!.stop_grace_period = '15s';
      delete d.services['logs-ingester']!.stop_grace_period;
      delete d.services.migrate!.environment!.MIGRATE_CONNECT_TIMEOUT;
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^service timescaledb: pg_isready without -h checks the Unix socket/),
        expect.stringMatching(/^service sensor-simulator: stop_grace_period 15s is not longer than the 20 s/),
        expect.stringMatching(
          /^service logs-ingester: stop_grace_period 10s \(default\) is not longer than the 10 s/,
        ),
        expect.stringMatching(/^service migrate: migrate should retry a database/),
      ]),
    );
  });

  it('a service as guest or as the administrator, a wrong password, plain URLs, a missing CA', () => {
    const copy = structuredClone(doc);
    const env = (s: string) => copy.services[s]!.environment!;
    env('logs-ingester').AMQP_URL = 'amqps://guest:guest@rabbitmq:5671';
    env('alarm-service').AMQP_URL = 'amqps://admin:admin@rabbitmq:5671';
    env('sensor-registry').AMQP_URL = 'amqps://svc.sensor-registry:wrong@rabbitmq:5671';
    env('measurements-ingester').AMQP_URL =
      'amqp://svc.measurements-ingester:dev-measurements-ingester@rabbitmq:5672';
    env('sensor-simulator').MQTT_URL = 'mqtt://svc.sensor-simulator:dev-sensor-simulator@rabbitmq:1883';
    delete env('sensor-simulator').TLS_CA_FILE;
    copy.services.iotctl!.volumes = [];
    expect(composeBrokerSecurityProblems(copy, root)).toEqual([
      "service sensor-registry: AMQP_URL's password is not svc.sensor-registry's in the definitions",
      'service measurements-ingester: AMQP_URL is not amqps://',
      'service logs-ingester: connects as guest (each service has its own user)',
      'service alarm-service: connects as admin, an administrator (each service has its own least-privilege user)',
      'service sensor-simulator: MQTT_URL is not mqtts://',
      'service sensor-simulator: no CA: TLS_CA_FILE is not set',
      'service iotctl: no CA: TLS_CA_FILE /certs/ca.pem is not in a mounted volume',
    ]);
  });

  it('anonymous MQTT on, no TLS listener, and the open-files limit left alone', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'compose-broker-'));
    try {
      const conf = read('deploy/compose/rabbitmq/rabbitmq.conf')
        .replace('mqtt.allow_anonymous = false', 'mqtt.allow_anonymous = true')
        .replace(/^mqtt\.listeners\.ssl\.default.*$/m, '');
      writeFileSync(path.join(dir, 'rabbitmq.conf'), conf);
      const copy = structuredClone(doc);
      const r = copy.services.rabbitmq!;
      r.volumes = r.volumes!.map((v) =>
        typeof v === 'string' && v.includes('20-sensor-streaming.conf')
          ? `${path.relative(root, path.join(dir, 'rabbitmq.conf')).replace(/^(?!\.)/, './')}:/etc/rabbitmq/conf.d/20-sensor-streaming.conf:ro`
          : v,
      );
      delete (r as { ulimits?: unknown }).ulimits;
      expect(composeBrokerSecurityProblems(copy, root)).toEqual([
        'rabbitmq: anonymous MQTT is not refused (mqtt.allow_anonymous = false missing)',
        'rabbitmq: no mqtt.listeners.ssl.default: no TLS listener',
        'rabbitmq: ulimits.nofile not set is below 65536',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the schema rejects an unknown service key and a bad depends_on condition', () => {
    const copy = structuredClone(doc) as ComposeFile & { services: Record<string, Record<string, unknown>> };
    copy.services.grafana!.restart_policy = 'always';
    copy.services.grafana!.depends_on = { prometheus: { condition: 'service_ready' } };
    expect(composeSpecValidator()(copy).join('\n')).toMatch(/additional properties[\s\S]*allowed values/);
  });
});

describe('parseComposeDuration', () => {
  it('reads Compose durations', () => {
    expect(parseComposeDuration('30s')).toBe(30_000);
    expect(parseComposeDuration('1m30s')).toBe(90_000);
    expect(parseComposeDuration('500ms')).toBe(500);
    expect(() => parseComposeDuration('soon')).toThrow(/not a Compose duration/);
  });
});

describe('interpolate', () => {
  it('follows Compose: defaults, required, $$ escapes', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's own ${VAR} syntax
    expect(interpolate('${A:-x} ${B-y} $C $$D', { B: '', C: 'c' })).toBe('x  c $D');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's own ${VAR} syntax
    expect(() => interpolate('${A:?set A}', {})).toThrow(/required variable A: set A/);
  });
});

describe('the broker settings the no-loss design relies on (issue 13)', () => {
  const definitionFiles = [
    'deploy/compose/rabbitmq/definitions.json',
    'deploy/overlays/dev/rabbitmq-definitions.json',
    'deploy/overlays/prod/secrets/rabbitmq-definitions.json.example',
  ];

  it.each(definitionFiles)('%s bounds the dead-letter queue by length and age with a policy', (file) => {
    const defs = JSON.parse(read(file)) as {
      policies?: Array<{ pattern: string; 'apply-to': string; definition: Record<string, unknown> }>;
    };
    const dead = (defs.policies ?? []).find((p) => new RegExp(p.pattern).test('sensor_streaming.dead'));
    expect(dead, `${file}: no policy matches sensor_streaming.dead`).toBeDefined();
    expect(dead?.['apply-to']).toBe('queues');
    expect(dead?.definition).toMatchObject({ 'max-length': 100_000, 'message-ttl': 1_209_600_000 });
  });

  it.each(['deploy/compose/rabbitmq/rabbitmq.conf', 'deploy/base/rabbitmq.yaml'])(
    '%s sets consumer_timeout explicitly, far above what an ingester holds',
    (file) => {
      const m = /^\s*consumer_timeout\s*=\s*(\d+)\s*$/m.exec(read(file));
      expect(m, `${file}: no consumer_timeout`).not.toBeNull();
      expect(Number(m?.[1])).toBeGreaterThanOrEqual(60_000);
    },
  );
});
