import type {
  Command,
  CommandAck,
  GeoPoint,
  LogBatch,
  LogEntry,
  LogLevel,
  MeasurementBatch,
  PowerState,
  SensorState,
  StateReason,
} from '@sensor-streaming/protocol';
import type { FaultKind, FaultTiming } from './faults.js';
import { DEFAULT_FAULT_TIMING, FaultInjector } from './faults.js';
import type { ErrorCode } from './log-codes.js';
import { APP_VERSION } from './log-codes.js';
import type { Placement, Site } from './position.js';
import { fixedPlacement, routePlacement } from './position.js';
import { createPrng } from './prng.js';
import { RecentCommands } from './recent-commands.js';
import { SampleClock } from './sample-clock.js';
import { KINDS } from './signals/index.js';
import type { ChannelSpec, KindSpec, SensorKind, SignalModel } from './signals/signal-model.js';
import { US_PER_S } from './signals/signal-model.js';
import { VibrationModel } from './signals/vibration.js';

/** What a sensor is; built from configuration by the fleet. */
export interface SensorSpec {
  serial: string;
  kind: SensorKind;
  site: Site;
  /** e.g. `pump-07`. */
  machine: string;
  firmware: string;
  /** Initial sample frequency; the kind's default when omitted. */
  frequencyHz?: number;
  faults: readonly FaultKind[];
  /** Seeds signals, faults and position. */
  seed: number;
}

export interface SensorOptions {
  /** A flush never puts more samples than this in one MeasurementBatch (it splits instead). */
  maxBatchSamples: number;
  /**
   * Exactly this many samples per MeasurementBatch: a flush takes only whole batches, the rest stays due
   * (a state or frequency change flushes the rest as a shorter batch). Undefined: whatever is due.
   */
  samplesPerMessage?: number | undefined;
  /**
   * Seconds of samples kept due while nothing is collected (e.g. the broker is
   * unreachable); older ones are dropped, with a WARN log.
   */
  maxBacklogS: number;
  /** How many recent command ids are remembered for duplicate detection. */
  recentCommands: number;
  /** Buffered log entries beyond this are dropped (oldest first). */
  maxLogEntries: number;
  faultTiming: FaultTiming;
  /** Bearing fault: seconds for the severity to grow from 0 to 1. */
  bearingFaultGrowthS: number;
}

export const DEFAULT_SENSOR_OPTIONS: SensorOptions = {
  maxBatchSamples: 10_000,
  maxBacklogS: 300,
  recentCommands: 64,
  maxLogEntries: 1_000,
  faultTiming: DEFAULT_FAULT_TIMING,
  bearingFaultGrowthS: 600,
};

export type SensorPowerState = Exclude<PowerState, 'OFFLINE'>;

/** The result of handling one command. */
export interface CommandOutcome {
  ack: CommandAck;
  /** True when this command id was handled before: `ack` is the ack sent then. */
  duplicate: boolean;
  /** True when the state or the frequency changed (publish a SensorState CHANGE). */
  changed: boolean;
  /** Samples taken up to the command instant; publish them before the ack. */
  batches: MeasurementBatch[];
}

/**
 * One simulated sensor: a state machine (AWAKE / ASLEEP), a sample clock, a
 * signal model with injected faults, a log buffer, and command handling.
 * Pure logic: nothing here touches the network or timers; the caller passes
 * the time in and publishes what comes out.
 */
export class SimulatedSensor {
  readonly serial: string;
  readonly kind: SensorKind;
  readonly spec: SensorSpec;
  readonly kindSpec: KindSpec;
  readonly channels: readonly ChannelSpec[];
  readonly labels: Readonly<Record<string, string>>;
  readonly bootUs: number;
  readonly #opts: SensorOptions;
  readonly #model: SignalModel;
  readonly #faults: FaultInjector;
  readonly #placement: Placement;
  readonly #clock: SampleClock;
  readonly #recent: RecentCommands<CommandAck>;
  readonly #sequences: number[];
  #logSequence = 0;
  #logs: LogEntry[] = [];
  #state: SensorPowerState = 'AWAKE';
  #frequencyHz: number;
  #droppedLogs = 0;
  #scratch: number[];

  constructor(spec: SensorSpec, bootUs: number, opts: SensorOptions = DEFAULT_SENSOR_OPTIONS) {
    this.serial = spec.serial;
    this.kind = spec.kind;
    this.spec = spec;
    this.kindSpec = KINDS[spec.kind];
    this.channels = this.kindSpec.channels;
    this.bootUs = bootUs;
    this.#opts = opts;
    this.labels = { site: spec.site.name, machine: spec.machine, kind: spec.kind };
    const prng = createPrng(spec.seed);
    const bearing = spec.faults.includes('bearing') && spec.kind === 'vibration';
    this.#model = this.kindSpec.createModel({
      prng: prng.fork('signal'),
      originUs: bootUs,
      ...(bearing ? { bearingFaultGrowthS: opts.bearingFaultGrowthS } : {}),
    });
    this.#faults = new FaultInjector(
      spec.faults.filter((f) => f !== 'bearing' || bearing),
      this.channels,
      prng.fork('faults'),
      bootUs,
      opts.faultTiming,
    );
    const machineType = spec.machine.replace(/-\d+$/, '');
    this.#placement = this.kindSpec.mobileMachines.includes(machineType)
      ? routePlacement(spec.site, prng.fork('route'))
      : fixedPlacement(spec.site, prng.fork('position'));
    const hz = spec.frequencyHz ?? this.kindSpec.defaultFrequencyHz;
    if (!this.inRange(hz)) {
      throw new RangeError(
        `${spec.serial}: frequency ${hz} Hz outside ${this.kindSpec.minFrequencyHz}..${this.kindSpec.maxFrequencyHz} Hz`,
      );
    }
    this.#frequencyHz = hz;
    this.#clock = new SampleClock(hz, bootUs);
    this.#recent = new RecentCommands(opts.recentCommands);
    this.#sequences = this.channels.map(() => 0);
    this.#scratch = this.channels.map(() => 0);
  }

  get state(): SensorPowerState {
    return this.#state;
  }

  get frequencyHz(): number {
    return this.#frequencyHz;
  }

  get faults(): ReadonlySet<FaultKind> {
    return this.#faults.faults;
  }

  get mobile(): boolean {
    return this.#placement.mobile;
  }

  inRange(hz: number): boolean {
    return Number.isFinite(hz) && hz >= this.kindSpec.minFrequencyHz && hz <= this.kindSpec.maxFrequencyHz;
  }

  position(timeUs: number): GeoPoint {
    return this.#placement.at(timeUs);
  }

  /** Bearing fault severity in [0, 1] (0 unless a vibration sensor with a bearing fault). */
  bearingSeverity(timeUs: number): number {
    return this.#model instanceof VibrationModel ? this.#model.severity(timeUs) : 0;
  }

  /** Boot log entries; call once after construction. */
  boot(nowUs: number): void {
    this.log(
      nowUs,
      'INFO',
      '',
      `boot: ${this.kind} sensor on ${this.spec.machine} at ${this.spec.site.name}`,
      'boot',
    );
    this.log(nowUs, 'INFO', '', `firmware ${this.spec.firmware}, self-test passed`, 'boot');
    this.log(
      nowUs,
      'INFO',
      '',
      `sampling ${this.channels.map((c) => c.name).join(', ')} at ${this.#frequencyHz} Hz`,
      'boot',
    );
    if (this.#faults.active) {
      this.log(nowUs, 'WARN', '', `fault injection active: ${[...this.#faults.faults].join(', ')}`, 'boot');
    }
  }

  log(timeUs: number, level: LogLevel, errorCode: ErrorCode | '', message: string, component: string): void {
    this.#logs.push({
      timeUs: Math.round(timeUs),
      level,
      errorCode,
      appVersion: APP_VERSION,
      firmwareVersion: this.spec.firmware,
      message,
      component,
    });
    if (this.#logs.length > this.#opts.maxLogEntries) {
      this.#logs.shift();
      this.#droppedLogs++;
    }
  }

  /**
   * Restarts the sample clock at `atUs` if no sample was taken yet, so that a
   * process that needed long to start (declaring thousands of command queues)
   * does not publish the samples of its start-up in one burst.
   */
  startSampling(atUs: number): void {
    if (this.#state === 'AWAKE' && this.#clock.taken === 0)
      this.#clock.restart(Math.round(atUs), this.#frequencyHz);
  }

  /** Samples due before `untilUs` and not collected yet (0 while asleep): how far behind publishing is. */
  dueSamples(untilUs: number): number {
    return this.#state === 'AWAKE' ? this.#clock.due(untilUs) : 0;
  }

  /**
   * Samples due before `untilUs` (none while asleep), as one or more batches per channel. With
   * samplesPerMessage only whole batches, unless `final` (before a state or frequency change).
   */
  collect(untilUs: number, final = false): MeasurementBatch[] {
    if (this.#state !== 'AWAKE') return [];
    const keep = Math.max(1, Math.ceil(this.#frequencyHz * this.#opts.maxBacklogS));
    const dropped = this.#clock.dropBacklog(untilUs, keep);
    if (dropped > 0) {
      this.log(
        untilUs,
        'WARN',
        'C011_BUFFER_OVERFLOW',
        `${dropped} sample(s) dropped: backlog full`,
        'buffer',
      );
    }
    const out: MeasurementBatch[] = [];
    const k = this.#opts.samplesPerMessage;
    for (;;) {
      if (k !== undefined && !final && this.#clock.due(untilUs) < k) break;
      const run = this.#clock.take(untilUs, k ?? this.#opts.maxBatchSamples);
      if (run === undefined) break;
      this.#generate(run.firstTimeUs, run.periodUs, run.count, out);
    }
    return out;
  }

  #generate(firstTimeUs: number, periodUs: number, count: number, out: MeasurementBatch[]): void {
    const nch = this.channels.length;
    const values: number[][] = [];
    for (let c = 0; c < nch; c++) values.push(new Array<number>(count));
    const scratch = this.#scratch;
    let times: number[] | undefined;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const t = firstTimeUs + i * periodUs;
      this.#model.sample(t, scratch);
      if (!this.#faults.apply(t, scratch)) {
        if (times === undefined) {
          times = [];
          for (let j = 0; j < n; j++) times.push(Math.round(firstTimeUs + j * periodUs));
        }
        continue;
      }
      for (let c = 0; c < nch; c++) values[c]![n] = scratch[c]!;
      if (times !== undefined) times.push(Math.round(t));
      n++;
    }
    if (n === 0) return;
    const firstUs = times !== undefined ? times[0]! : Math.round(firstTimeUs);
    const position = this.#placement.mobile ? this.#placement.at(firstUs) : undefined;
    for (let c = 0; c < nch; c++) {
      const ch = this.channels[c]!;
      const v = values[c]!;
      if (n < count) v.length = n;
      this.#sequences[c] = this.#sequences[c]! + 1;
      const batch: MeasurementBatch = {
        serial: this.serial,
        channel: ch.name,
        unit: ch.unit,
        sequence: this.#sequences[c]!,
        firstSampleTimeUs: firstUs,
        samplePeriodNs: times !== undefined ? 0 : Math.round(periodUs * 1000),
        values: v,
      };
      if (times !== undefined) batch.sampleTimesUs = times;
      if (position !== undefined) batch.position = position;
      out.push(batch);
    }
  }

  /** Buffered log entries (and fault events up to `nowUs`) as one LogBatch, or undefined if none. */
  takeLogs(nowUs: number): LogBatch | undefined {
    const sev = this.#state === 'AWAKE' ? this.bearingSeverity(nowUs) : 0;
    if (this.#state === 'AWAKE') {
      for (const e of this.#faults.drainEvents(nowUs, sev)) {
        this.log(e.timeUs, e.level, e.errorCode, e.message, e.component);
      }
    }
    if (this.#droppedLogs > 0) {
      const n = this.#droppedLogs;
      this.#droppedLogs = 0;
      this.log(nowUs, 'WARN', 'C011_BUFFER_OVERFLOW', `${n} log entries dropped`, 'logger');
    }
    if (this.#logs.length === 0) return undefined;
    const entries = this.#logs;
    this.#logs = [];
    this.#logSequence++;
    return { serial: this.serial, sequence: this.#logSequence, entries };
  }

  snapshot(reason: StateReason, nowUs: number, state: PowerState = this.#state): SensorState {
    return {
      serial: this.serial,
      kind: this.kind,
      channels: this.channels.map((c) => c.name),
      firmware: this.spec.firmware,
      location: this.#placement.at(nowUs),
      state,
      sampleFrequencyHz: this.#frequencyHz,
      uptimeS: Math.max(0, Math.floor((nowUs - this.bootUs) / US_PER_S)),
      reason,
      timeUs: Math.round(nowUs),
      labels: { ...this.labels },
      minFrequencyHz: this.kindSpec.minFrequencyHz,
      maxFrequencyHz: this.kindSpec.maxFrequencyHz,
    };
  }

  /**
   * Applies a command at `nowUs`. Each command id is applied at most once: a
   * duplicate gets the ack of the first delivery back. For sleep and a
   * frequency change, the samples due before `nowUs` are returned in
   * `batches` so that they can be published before the ack: no sample after
   * the ack's time is ever produced at the old state.
   */
  handleCommand(cmd: Command, nowUs: number): CommandOutcome {
    const prior = this.#recent.get(cmd.commandId);
    if (prior !== undefined) return { ack: prior, duplicate: true, changed: false, batches: [] };
    const now = Math.round(nowUs);
    let status: CommandAck['status'] = 'APPLIED';
    let reason = '';
    let changed = false;
    let batches: MeasurementBatch[] = [];
    if (cmd.serial !== this.serial) {
      status = 'REJECTED';
      reason = `command for ${cmd.serial} delivered to ${this.serial}`;
    } else if (cmd.expiresAtUs !== undefined && cmd.expiresAtUs > 0 && now > cmd.expiresAtUs) {
      status = 'EXPIRED';
      reason = `arrived ${((now - cmd.expiresAtUs) / US_PER_S).toFixed(3)} s after it expired`;
    } else if (cmd.type === 'sleep') {
      if (this.#state === 'ASLEEP') reason = 'already asleep';
      else {
        batches = this.collect(now, true);
        this.#state = 'ASLEEP';
        changed = true;
      }
    } else if (cmd.type === 'awake') {
      if (this.#state === 'AWAKE') reason = 'already awake';
      else {
        this.#clock.restart(now, this.#frequencyHz);
        this.#state = 'AWAKE';
        changed = true;
      }
    } else if (cmd.type === 'changesamplefrequency') {
      const hz = cmd.sampleFrequencyHz;
      const { minFrequencyHz: min, maxFrequencyHz: max } = this.kindSpec;
      if (hz === undefined || !Number.isFinite(hz) || hz <= 0) {
        status = 'REJECTED';
        reason = 'sample_frequency_hz must be a positive number';
      } else if (!this.inRange(hz)) {
        status = 'REJECTED';
        reason = `frequency ${hz} Hz outside the range of this ${this.kind} sensor (${min}..${max} Hz)`;
      } else if (hz === this.#frequencyHz) {
        reason = 'frequency unchanged';
      } else {
        if (this.#state === 'AWAKE') {
          batches = this.collect(now, true);
          this.#clock.restart(now, hz);
        }
        this.#frequencyHz = hz;
        changed = true;
      }
    } else {
      status = 'REJECTED';
      reason = `unknown command type ${String(cmd.type)}`;
    }
    const ack: CommandAck = {
      commandId: cmd.commandId,
      serial: this.serial,
      status,
      reason,
      state: this.#state,
      sampleFrequencyHz: this.#frequencyHz,
      timeUs: now,
      type: cmd.type,
    };
    this.#recent.set(cmd.commandId, ack);
    const level: LogLevel = status === 'APPLIED' ? 'INFO' : 'WARN';
    let code: ErrorCode | '' = '';
    if (status === 'EXPIRED') code = 'C002_TIMEOUT';
    else if (status === 'REJECTED')
      code = cmd.type === 'changesamplefrequency' ? 'C004_OUT_OF_RANGE' : 'C014_UNKNOWN';
    this.log(
      now,
      level,
      code,
      `command ${cmd.type} ${status.toLowerCase()}${reason ? `: ${reason}` : ''} (${cmd.issuedBy})`,
      'commands',
    );
    return { ack, duplicate: false, changed, batches };
  }
}
