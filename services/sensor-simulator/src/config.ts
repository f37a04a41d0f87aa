import { isValidSerial } from '@sensor-streaming/protocol';
import { type CommonConfig, readCommonConfig, readEnv } from '@sensor-streaming/runtime';
import { FAULT_KINDS, type FaultKind } from './faults.js';
import { KINDS } from './signals/index.js';
import { SENSOR_KINDS, type SensorKind } from './signals/signal-model.js';

export const SERVICE_NAME = 'sensor-simulator';
export const MAX_SENSORS = 50_000;
export const DEFAULT_KIND_MIX = 'vibration:0.5,environment:0.3,process:0.2';

export type Transport = 'amqp' | 'mqtt';

export interface SimulatorConfig extends CommonConfig {
  /** The serials this process simulates, disjoint from other processes' by the simulator index. */
  serials: string[];
  simulatorIndex: number;
  /** Kind -> weight, weights summing to 1. */
  kindMix: Array<{ kind: SensorKind; weight: number }>;
  /** Overrides every kind's default sample frequency when set. */
  sampleFrequencyHz: number | undefined;
  flushIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Message TTL of each sensor's command queue (x-message-ttl). */
  commandTtlMs: number;
  transport: Transport;
  /**
   * Share of the sensors run as MQTT devices (one MQTT connection each, commands over MQTT), the
   * rest over AMQP: 1 with TRANSPORT=mqtt, 0 with TRANSPORT=amqp unless MQTT_SHARE says otherwise.
   */
  mqttShare: number;
  /** CSV `serial,username,password` (what `iotctl sensors provision --from` writes): each MQTT device's own credential. */
  mqttCredentialsFile: string | undefined;
  /** MQTT connections opened at once while starting (each: CONNECT, command SUBSCRIBE). */
  mqttConnectConcurrency: number;
  /** Fault kind -> probability that a sensor has it. */
  faultProbabilities: Partial<Record<FaultKind, number>>;
  /** Explicit faults per serial (added to the random ones). */
  faultSerials: Record<string, FaultKind[]>;
  seed: number;
  maxBatchSamples: number;
  /**
   * SAMPLES_PER_MESSAGE (k): every MeasurementBatch carries exactly k samples per channel (a flush sends
   * only whole messages; the rest waits for the next flush), e.g. 1 or 10 like small MQTT devices. Unset:
   * one batch per flush of whatever is due (at most MAX_BATCH_SAMPLES).
   */
  samplesPerMessage: number | undefined;
  /** Max publishes in flight per flush tick (the bus also bounds unconfirmed publishes). */
  publishConcurrency: number;
  /** Unacked commands per command channel (shared by its queues). */
  commandPrefetch: number;
  /** Commands handled at once (each waits for the confirms of its ack, state change and samples). */
  commandConcurrency: number;
  /** Sensors per command-consuming channel. */
  sensorsPerCommandChannel: number;
  /** Bearing faults grow from 0 to full severity over this many seconds. */
  bearingFaultGrowthS: number;
  /** Seconds of samples a sensor keeps due while the broker is away; older ones are dropped. */
  maxBacklogS: number;
}

/**
 * The trailing integer of a host name after a separator: `sensor-simulator-3` -> 3 (StatefulSet
 * ordinal), `stack_sensor-simulator_2` -> 2. A bare container id (Docker's default hostname, e.g.
 * `3f2a9b0c1d22`) gives undefined rather than a random index: give such containers a hostname.
 */
export function indexFromHostname(hostname: string): number | undefined {
  const m = /[-_.](\d+)$/.exec(hostname.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Serials of simulator `index`: `<prefix>-<index>-<n>`, so processes never overlap. */
export function generateSerials(prefix: string, index: number, count: number): string[] {
  const out: string[] = [];
  for (let n = 0; n < count; n++) out.push(`${prefix}-${index}-${n}`);
  return out;
}

function parseWeights(
  raw: string,
  allowed: readonly string[],
  what: string,
): { entries: Array<[string, number]>; errors: string[] } {
  const entries: Array<[string, number]> = [];
  const errors: string[] = [];
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, w, ...rest] = part.split(':').map((s) => s.trim());
    if (!name || rest.length > 0) {
      errors.push(`bad entry ${JSON.stringify(part)} (expected ${what}:number)`);
      continue;
    }
    if (!allowed.includes(name)) {
      errors.push(`unknown ${what} ${JSON.stringify(name)} (one of ${allowed.join(', ')})`);
      continue;
    }
    const weight = w === undefined ? 1 : Number(w);
    if (w === '' || !Number.isFinite(weight) || weight < 0) {
      errors.push(`${name}: weight must be a number >= 0, got ${JSON.stringify(w)}`);
      continue;
    }
    entries.push([name, weight]);
  }
  return { entries, errors };
}

/**
 * Reads and validates the simulator's environment; throws one ConfigError
 * listing every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  const r = readEnv(env);
  const common = readCommonConfig(r, SERVICE_NAME);

  const prefix = r.string('SENSOR_SERIAL_PREFIX', 'sim', { pattern: /^[A-Za-z0-9_-]{1,40}$/ });
  const count = r.int('SENSOR_COUNT', 10, { min: 1, max: MAX_SENSORS });
  const explicit = r.list('SENSOR_SERIALS', []);
  const fromHostname = r.bool('SIMULATOR_INDEX_FROM_HOSTNAME', false);
  let simulatorIndex = r.int('SIMULATOR_INDEX', 0, { min: 0, max: 1_000_000 });
  if (fromHostname) {
    const host = env.HOSTNAME ?? '';
    const idx = indexFromHostname(host);
    if (idx === undefined) {
      r.problem(
        'HOSTNAME',
        `must end in -<n> or _<n> when SIMULATOR_INDEX_FROM_HOSTNAME=true (a StatefulSet pod name, or set hostname: in compose), got ${JSON.stringify(host)}`,
      );
    } else {
      if (r.has('SIMULATOR_INDEX') && simulatorIndex !== idx) {
        r.problem('SIMULATOR_INDEX', `conflicts with the index ${idx} taken from HOSTNAME; set only one`);
      }
      simulatorIndex = idx;
    }
  }

  let serials: string[];
  if (explicit.length > 0) {
    const bad = explicit.filter((s) => !isValidSerial(s));
    if (bad.length > 0) {
      r.problem(
        'SENSOR_SERIALS',
        `invalid serial(s) ${bad
          .slice(0, 5)
          .map((s) => JSON.stringify(s))
          .join(', ')} (allowed: [A-Za-z0-9_-]{1,64})`,
      );
    }
    const dupes = explicit.filter((s, i) => explicit.indexOf(s) !== i);
    if (dupes.length > 0)
      r.problem('SENSOR_SERIALS', `duplicate serial(s) ${[...new Set(dupes)].slice(0, 5).join(', ')}`);
    if (explicit.length > MAX_SENSORS) r.problem('SENSOR_SERIALS', `at most ${MAX_SENSORS} serials`);
    serials = explicit;
  } else {
    serials = generateSerials(prefix, simulatorIndex, count);
  }

  const mixRaw = r.string('SENSOR_KINDS', DEFAULT_KIND_MIX);
  const mix = parseWeights(mixRaw, SENSOR_KINDS, 'kind');
  for (const e of mix.errors) r.problem('SENSOR_KINDS', e);
  const total = mix.entries.reduce((s, [, w]) => s + w, 0);
  if (mix.errors.length === 0 && total <= 0) r.problem('SENSOR_KINDS', 'weights must sum to more than 0');
  const kindMix = mix.entries
    .filter(([, w]) => w > 0)
    .map(([kind, w]) => ({ kind: kind as SensorKind, weight: total > 0 ? w / total : 0 }));

  let sampleFrequencyHz: number | undefined;
  if (r.has('SAMPLE_FREQUENCY_HZ')) {
    sampleFrequencyHz = r.number('SAMPLE_FREQUENCY_HZ', 1, { min: 0.1, max: 10_000 });
    for (const { kind } of kindMix) {
      const k = KINDS[kind];
      if (sampleFrequencyHz < k.minFrequencyHz || sampleFrequencyHz > k.maxFrequencyHz) {
        r.problem(
          'SAMPLE_FREQUENCY_HZ',
          `${sampleFrequencyHz} Hz is outside the range of ${kind} sensors (${k.minFrequencyHz}..${k.maxFrequencyHz} Hz)`,
        );
      }
    }
  }

  const flushIntervalMs = r.duration('FLUSH_INTERVAL_MS', 1000, { min: 10, max: 60_000 });
  const heartbeatIntervalMs = r.duration('HEARTBEAT_INTERVAL_MS', 10_000, { min: 100, max: 3_600_000 });
  const commandTtlMs = r.duration('COMMAND_TTL_MS', 3_600_000, { min: 1000, max: 7 * 86_400_000 });
  const transport = r.enum('TRANSPORT', ['amqp', 'mqtt'] as const, 'amqp');
  const mqttShare = r.number('MQTT_SHARE', transport === 'mqtt' ? 1 : 0, { min: 0, max: 1 });
  if (transport === 'mqtt' && r.has('MQTT_SHARE') && mqttShare === 0)
    r.problem('MQTT_SHARE', 'is 0 with TRANSPORT=mqtt; use TRANSPORT=amqp for no MQTT sensors');
  const credentialsFile = r.string('MQTT_CREDENTIALS_FILE', '');
  const mqttConnectConcurrency = r.int('MQTT_CONNECT_CONCURRENCY', 50, { min: 1, max: 10_000 });

  const faultsRaw = r.string('FAULTS', 'spike:0,stuck:0,drift:0,dropout:0,errorburst:0,bearing:0');
  const faults = parseWeights(faultsRaw, FAULT_KINDS, 'fault');
  for (const e of faults.errors) r.problem('FAULTS', e);
  const faultProbabilities: Partial<Record<FaultKind, number>> = {};
  for (const [name, p] of faults.entries) {
    if (p > 1) r.problem('FAULTS', `${name}: probability must be in 0..1, got ${p}`);
    else faultProbabilities[name as FaultKind] = p;
  }

  const faultSerials: Record<string, FaultKind[]> = {};
  for (const item of r.list('FAULT_SERIALS', [])) {
    const [serial, kinds, ...rest] = item.split(':').map((s) => s.trim());
    if (!serial || !isValidSerial(serial) || !kinds || rest.length > 0) {
      r.problem('FAULT_SERIALS', `bad entry ${JSON.stringify(item)} (expected serial:fault[+fault...])`);
      continue;
    }
    const list = kinds.split('+').map((s) => s.trim());
    const unknown = list.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
    if (unknown.length > 0) {
      r.problem(
        'FAULT_SERIALS',
        `${serial}: unknown fault(s) ${unknown.join(', ')} (one of ${FAULT_KINDS.join(', ')})`,
      );
      continue;
    }
    faultSerials[serial] = [...new Set([...(faultSerials[serial] ?? []), ...(list as FaultKind[])])];
  }

  const seed = r.int('SEED', 1, { min: 0, max: 2 ** 32 - 1 });
  const maxBatchSamples = r.int('MAX_BATCH_SAMPLES', 10_000, { min: 1, max: 100_000 });
  const samplesPerMessage = r.has('SAMPLES_PER_MESSAGE')
    ? r.int('SAMPLES_PER_MESSAGE', 1, { min: 1, max: maxBatchSamples })
    : undefined;
  const publishConcurrency = r.int('PUBLISH_CONCURRENCY', 2000, { min: 1, max: 100_000 });
  const commandPrefetch = r.int('COMMAND_PREFETCH', 100, { min: 1, max: 10_000 });
  const commandConcurrency = r.int('COMMAND_CONCURRENCY', 1000, { min: 1, max: 100_000 });
  const sensorsPerCommandChannel = r.int('SENSORS_PER_COMMAND_CHANNEL', 100, { min: 1, max: 50_000 });
  const bearingFaultGrowthS = r.duration('BEARING_FAULT_GROWTH_MS', 600_000, { min: 0 }) / 1000;
  const maxBacklogS = r.duration('MAX_BACKLOG_MS', 300_000, { min: 1000, max: 86_400_000 }) / 1000;

  r.done();
  return {
    ...common,
    serials,
    simulatorIndex,
    kindMix,
    sampleFrequencyHz,
    flushIntervalMs,
    heartbeatIntervalMs,
    commandTtlMs,
    transport,
    mqttShare,
    mqttCredentialsFile: credentialsFile === '' ? undefined : credentialsFile,
    mqttConnectConcurrency,
    faultProbabilities,
    faultSerials,
    seed,
    maxBatchSamples,
    samplesPerMessage,
    publishConcurrency,
    commandPrefetch,
    commandConcurrency,
    sensorsPerCommandChannel,
    bearingFaultGrowthS,
    maxBacklogS,
  };
}
