import type { Bus } from '@sensor-streaming/bus';
import { isValidSerial } from '@sensor-streaming/protocol';
import { badRequest, callJsonRpc, isRecord, parseRpcEnvelope } from './json-rpc-call.js';
import { encodeRegistryResponse, type RegistryResponse } from './registry-rpc.js';

/**
 * The registry's registration RPC: a queue of its own, apart from REGISTRY_RPC_QUEUE, so the broker decides
 * who may register (the `op.provisioner` role publishes this key; operators and viewers cannot, devices
 * cannot publish RPC at all). See docs/identity.md, "Registration modes".
 */
export const REGISTRAR_RPC_QUEUE = 'sensor-registry.registrar';

/** Sensor kinds a sensor may be provisioned with (those the rules and the simulator know). */
export const SENSOR_KIND_NAMES = ['vibration', 'environment', 'process'] as const;
export type SensorKindName = (typeof SENSOR_KIND_NAMES)[number];

/** Label keys and values: the shapes a `--selector` can match. `kind` is not a label (it is the kind). */
export const LABEL_KEY = /^[A-Za-z0-9_.-]{1,63}$/;
export const LABEL_VALUE = /^[A-Za-z0-9_.:/-]{0,128}$/;
export const MAX_LABELS = 32;
/** Sensors per sensors.register request (iotctl sends a fleet in requests of this size). */
export const MAX_REGISTER_BATCH = 5_000;

export interface SensorRegistration {
  serial: string;
  /** Absent: keep the kind the sensor reports (or has). */
  kind?: SensorKindName;
  labels?: Record<string, string>;
}

export type RegistrarRequest =
  | { method: 'sensors.register'; params: { sensors: SensorRegistration[] } }
  | { method: 'sensors.revoke'; params: { serials: string[] } };

export interface RegisterResult {
  registered: number;
}
export interface RevokeResult {
  /** Serials that were provisioned and are now revoked. */
  revoked: string[];
}

function serialAt(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isValidSerial(v))
    badRequest(field, `invalid serial ${JSON.stringify(v)} (allowed: [A-Za-z0-9_-]{1,64})`);
  return v;
}

/** Validates a kind; throws ControlError naming the field. */
export function parseSensorKind(v: unknown, field: string): SensorKindName {
  if (typeof v !== 'string' || !(SENSOR_KIND_NAMES as readonly string[]).includes(v))
    badRequest(field, `kind must be one of ${SENSOR_KIND_NAMES.join(', ')}, got ${JSON.stringify(v)}`);
  return v as SensorKindName;
}

/** Validates labels; throws ControlError naming the bad key or value. */
export function parseLabels(v: unknown, field: string): Record<string, string> {
  if (!isRecord(v)) badRequest(field, 'must be an object of string values');
  const entries = Object.entries(v);
  if (entries.length > MAX_LABELS) badRequest(field, `at most ${MAX_LABELS} labels, got ${entries.length}`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!LABEL_KEY.test(k)) badRequest(`${field}.${k}`, `label key must match ${LABEL_KEY.source}`);
    if (k === 'kind') badRequest(`${field}.kind`, 'kind is not a label: give it as the kind');
    if (typeof val !== 'string' || !LABEL_VALUE.test(val))
      badRequest(`${field}.${k}`, `label value must be a string matching ${LABEL_VALUE.source}`);
    out[k] = val;
  }
  return out;
}

/** Parses `site=north` (the CLI's `--label`); throws ControlError naming the bad part. */
export function parseLabelArg(text: string, field = '--label'): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) badRequest(field, `"${text}" is not key=value`);
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  const parsed = parseLabels({ [key]: value }, field);
  return [key, parsed[key] as string];
}

/** Validates a registrar request body (JSON). Throws ControlError (permanent). */
export function parseRegistrarRequest(body: Buffer): RegistrarRequest {
  const { method, params } = parseRpcEnvelope(body);
  switch (method) {
    case 'sensors.register': {
      const list = params.sensors;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_REGISTER_BATCH)
        badRequest('params.sensors', `must be an array of 1 to ${MAX_REGISTER_BATCH} sensors`);
      const seen = new Set<string>();
      const sensors = list.map((s, i): SensorRegistration => {
        const f = `params.sensors[${i}]`;
        if (!isRecord(s)) badRequest(f, 'must be an object');
        const serial = serialAt(s.serial, `${f}.serial`);
        if (seen.has(serial)) badRequest(`${f}.serial`, `serial ${serial} appears twice`);
        seen.add(serial);
        const out: SensorRegistration = { serial };
        if (s.kind !== undefined) out.kind = parseSensorKind(s.kind, `${f}.kind`);
        if (s.labels !== undefined) out.labels = parseLabels(s.labels, `${f}.labels`);
        return out;
      });
      return { method: 'sensors.register', params: { sensors } };
    }
    case 'sensors.revoke': {
      const list = params.serials;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_REGISTER_BATCH)
        badRequest('params.serials', `must be an array of 1 to ${MAX_REGISTER_BATCH} serials`);
      return {
        method: 'sensors.revoke',
        params: { serials: list.map((s, i) => serialAt(s, `params.serials[${i}]`)) },
      };
    }
    default:
      return badRequest('method', `unknown method ${JSON.stringify(method)}`);
  }
}

export const encodeRegistrarResponse: <T>(r: RegistryResponse<T>) => Buffer = encodeRegistryResponse;

export interface RegistrarClient {
  /** Registers in requests of MAX_REGISTER_BATCH; `onProgress(done, total)` after each. */
  register(
    sensors: readonly SensorRegistration[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<RegisterResult>;
  revoke(serials: readonly string[]): Promise<RevokeResult>;
}

/** Client side of the registration RPC (iotctl sensors provision / revoke). */
export function createRegistrarClient(bus: Bus, opts: { timeoutMs?: number } = {}): RegistrarClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const call = <T>(request: RegistrarRequest): Promise<T> =>
    callJsonRpc<T>(
      bus,
      {
        queue: REGISTRAR_RPC_QUEUE,
        label: 'the sensor registry (registration)',
        service: 'sensor-registry',
        codePrefix: 'REGISTRY',
      },
      request,
      timeoutMs,
    );
  return {
    async register(sensors, onProgress) {
      let registered = 0;
      for (let i = 0; i < sensors.length; i += MAX_REGISTER_BATCH) {
        const chunk = sensors.slice(i, i + MAX_REGISTER_BATCH);
        const r = await call<RegisterResult>({ method: 'sensors.register', params: { sensors: [...chunk] } });
        registered += r.registered;
        onProgress?.(Math.min(i + chunk.length, sensors.length), sensors.length);
      }
      return { registered };
    },
    async revoke(serials) {
      const revoked: string[] = [];
      for (let i = 0; i < serials.length; i += MAX_REGISTER_BATCH) {
        const r = await call<RevokeResult>({
          method: 'sensors.revoke',
          params: { serials: serials.slice(i, i + MAX_REGISTER_BATCH) },
        });
        revoked.push(...r.revoked);
      }
      return { revoked };
    },
  };
}
