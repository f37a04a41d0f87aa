import {
  type AlarmSeverity,
  type Command,
  type LogBatch,
  type MeasurementBatch,
  type PowerState,
  type SensorState,
  sampleTimesUs,
} from '@sensor-streaming/protocol';
import { LruMap } from '@sensor-streaming/runtime';
import { resolveRules, type SensorProfile } from '../rules/rule-set.js';
import {
  compare,
  type Rule,
  type RuleActions,
  type RuleSet,
  type RuleType,
  type SilenceRule,
} from '../rules/rule-types.js';
import { AlarmLatch } from './alarm-latch.js';
import {
  ALL_CODES,
  AnomalyEvaluator,
  type AnomalyModelParams,
  ErrorBurstCounter,
  MadAnomalyEvaluator,
  type PersistentWindows,
  RateOfChangeEvaluator,
  type SampleEvaluator,
  type Sink,
  WindowThresholdEvaluator,
} from './evaluators.js';

/** A decision of the engine: raise or clear one alarm (sensor + rule + channel). */
export interface AlarmDecision {
  kind: 'RAISE' | 'CLEAR';
  serial: string;
  ruleId: string;
  /** `removed` for an open alarm whose rule no longer applies (see orphans()). */
  ruleType: RuleType | 'removed';
  /** The data channel, the error code for error-burst rules, '' for silence. */
  channel: string;
  severity: AlarmSeverity;
  value: number;
  threshold: number;
  windowNs: number;
  /** Event time of the transition (sample time, window end, or wall time for silence). */
  timeUs: number;
  message: string;
  actions: RuleActions;
}

export interface ModelSnapshot {
  serial: string;
  channel: string;
  ruleId: string;
  params: AnomalyModelParams;
}

/** Open windows of one sensor + rule + channel ('' for error-burst counters), as saved in alarm_window_state. */
export interface WindowStateSnapshot {
  serial: string;
  ruleId: string;
  channel: string;
  /** null: nothing open any more (delete the saved row). */
  state: Record<string, unknown> | null;
}

export interface RuleEngineOptions {
  rules: RuleSet;
  /** Events that arrived after their window closed (or out of order for point rules). */
  onLate?: (ruleType: RuleType, count: number) => void;
  /**
   * Sensors whose state is kept at most (default 100 000). Past it the least recently active sensor without
   * an open alarm is evicted: its open windows and anomaly models are kept aside (bounded too) and continue
   * if it comes back; unsaved ones are still saved. A sensor with an open alarm is never evicted.
   */
  maxSensors?: number;
  /** A sensor's state was evicted (`what`: `sensors`, or `parked` when set-aside state was dropped). */
  onEvict?: (what: 'sensors' | 'parked') => void;
}

interface BoundEvaluator {
  fingerprint: string;
  evaluator: SampleEvaluator;
}

/** What runs for one channel of one sensor: resolved once per rule change, reused for every batch. */
interface ChannelPlan {
  silence: Array<{ rule: Rule; latch: AlarmLatch }>;
  steps: Array<{ rule: Rule; evaluator: SampleEvaluator; sink: Sink }>;
}

interface SensorCtx {
  profile: SensorProfile;
  kindKnown: boolean;
  powerState: PowerState | undefined;
  frequencyHz: number;
  /** A sleep command is out (wall µs it was issued, until it expires): silence is expected. */
  sleepOrdered: { issuedAtUs: number; untilUs: number } | undefined;
  /** Event time of the newest wake / frequency change: rules created later settle from here. */
  settleFromUs: number | undefined;
  rules: Rule[] | undefined;
  evaluators: Map<string, BoundEvaluator>;
  plans: Map<string, ChannelPlan>;
  errorCounters: Map<string, { fingerprint: string; counter: ErrorBurstCounter }>;
  latches: Map<string, AlarmLatch>;
  lastArrivalUs: number | undefined;
  expectedIntervalUs: Map<string, number>;
  lastBatchStartUs: Map<string, number>;
  /** Keys of this sensor's entries in RuleEngine.anomalies (to set them aside on eviction). */
  anomalyKeys: Set<string>;
}

const SEP = '\u0000';
const NO_OUT: AlarmDecision[] = [];
const fingerprints = new WeakMap<Rule, string>();

function fingerprint(rule: Rule): string {
  let f = fingerprints.get(rule);
  if (f === undefined) {
    f = JSON.stringify(rule);
    fingerprints.set(rule, f);
  }
  return f;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}

function windowText(us: number): string {
  if (us % 60e6 === 0) return `${us / 60e6}m`;
  if (us % 1e6 === 0) return `${us / 1e6}s`;
  return `${us / 1e3}ms`;
}

/**
 * The transition's message: the condition that raised it, or "cleared: " and
 * the value that cleared it (never a raise text on a clear).
 */
function describe(
  rule: Rule,
  channel: string,
  kind: 'RAISE' | 'CLEAR',
  value: number,
  threshold: number,
): string {
  const raise = kind === 'RAISE';
  const head = raise ? '' : 'cleared: ';
  switch (rule.type) {
    case 'threshold': {
      const c = raise ? rule.raise : rule.clear;
      return `${head}${rule.aggregate}(${channel}) over ${windowText(rule.window.sizeUs)} = ${fmt(value)} (${c.op} ${fmt(c.threshold)})`;
    }
    case 'rate-of-change': {
      const c = raise ? rule.raise : rule.clear;
      return `${head}|d${channel}/dt| over ${windowText(rule.window.sizeUs)} = ${fmt(value)}/s (${c.op} ${fmt(c.threshold)})`;
    }
    case 'anomaly':
      return `${head}${channel} = ${fmt(value)} vs anomaly bound ${fmt(threshold)} (z ${raise ? '>' : '<='} ${raise ? rule.zScore : rule.clearZScore})`;
    case 'vibration':
      return `${head}rms(${channel}) over ${windowText(rule.window.sizeUs)} = ${fmt(value)} mm/s, zone ${rule.zone} limit ${fmt(threshold)} mm/s for class ${rule.machineClass}`;
    case 'error-burst':
      return channel === ALL_CODES
        ? `${head}${fmt(value)} ERROR entries (all codes) in ${windowText(rule.window.sizeUs)}`
        : `${head}${fmt(value)} ERROR entries with code ${channel} in ${windowText(rule.window.sizeUs)}`;
    case 'silence':
      return raise
        ? `no data for ${fmt(value)} s (expected within ${fmt(threshold)} s)`
        : 'cleared: data again';
  }
}

/**
 * The pure rule engine: per sensor + channel state, event-time windows,
 * anomaly models and alarm hysteresis. No I/O: feed it messages and clock
 * ticks, it returns the alarm decisions, in order. Not safe to share between
 * processes: the service makes one replica the single active consumer.
 */
export class RuleEngine {
  private rules: RuleSet;
  private readonly sensors: LruMap<string, SensorCtx>;
  private readonly anomalies = new Map<string, AnomalyEvaluator>();
  private readonly onLate: (ruleType: RuleType, count: number) => void;
  private readonly pendingModels: LruMap<string, AnomalyModelParams>;
  /** Saved windows waiting for their evaluator to be created (serial, rule, channel). */
  private readonly pendingWindows: LruMap<string, Record<string, unknown>>;
  /** State of evicted sensors that was not saved yet: handed out by the next takeDirty* call. */
  private evictedWindows: WindowStateSnapshot[] = [];
  private evictedModels: ModelSnapshot[] = [];

  constructor(opts: RuleEngineOptions) {
    this.rules = opts.rules;
    this.onLate = opts.onLate ?? (() => {});
    const maxSensors = opts.maxSensors ?? 100_000;
    const onEvict = opts.onEvict ?? (() => {});
    this.sensors = new LruMap<string, SensorCtx>({
      maxEntries: maxSensors,
      // an open alarm must stay clearable: never evict a sensor holding one
      canEvict: (_serial, ctx) => ![...ctx.latches.values()].some((l) => l.active),
      onEvict: (serial, ctx) => {
        this.park(serial, ctx);
        onEvict('sensors');
      },
    });
    // set-aside windows and models, a few per sensor: dropping one means that window or model starts fresh
    this.pendingModels = new LruMap({ maxEntries: maxSensors * 4, onEvict: () => onEvict('parked') });
    this.pendingWindows = new LruMap({ maxEntries: maxSensors * 4, onEvict: () => onEvict('parked') });
  }

  /** Sets an evicted sensor's windows and models aside, so they continue if it comes back. */
  private park(serial: string, ctx: SensorCtx): void {
    for (const [ruleId, { counter }] of ctx.errorCounters) {
      const state = counter.snapshot() ?? null;
      if (counter.dirty) this.evictedWindows.push({ serial, ruleId, channel: '', state });
      if (state !== null) this.pendingWindows.set(windowKey(serial, ruleId, ''), state);
    }
    for (const [key, { evaluator }] of ctx.evaluators) {
      if (!(evaluator instanceof WindowThresholdEvaluator)) continue;
      const [ruleId, channel] = key.split(SEP) as [string, string];
      const state = evaluator.snapshot() ?? null;
      if (evaluator.dirty) this.evictedWindows.push({ serial, ruleId, channel, state });
      if (state !== null) this.pendingWindows.set(windowKey(serial, ruleId, channel), state);
    }
    for (const key of ctx.anomalyKeys) {
      const ev = this.anomalies.get(key);
      if (ev === undefined) continue;
      const [, channel, ruleId] = key.split(SEP) as [string, string, string];
      if (ev.dirty) this.evictedModels.push({ serial, channel, ruleId, params: { ...ev.params } });
      this.pendingModels.set(key, { ...ev.params });
      this.anomalies.delete(key);
    }
  }

  get ruleSet(): RuleSet {
    return this.rules;
  }

  /** Swaps the rule set; per-rule state is kept where the rule's effective definition is unchanged. */
  setRules(rules: RuleSet): void {
    this.rules = rules;
    for (const ctx of this.sensors.values()) ctx.rules = undefined;
  }

  /** True when the sensor's kind is known (from a SensorState or the sensors table). */
  knowsSensor(serial: string): boolean {
    return this.sensors.peek(serial)?.kindKnown === true;
  }

  /** Sets what the sensors table says about a sensor (until a SensorState says otherwise). */
  setProfile(
    serial: string,
    kind: string,
    labels: Record<string, string>,
    reported?: { state: PowerState | null; frequencyHz: number | null },
  ): void {
    const ctx = this.ctx(serial);
    ctx.profile = { serial, kind, labels };
    ctx.kindKnown = true;
    ctx.rules = undefined;
    if (reported?.state && ctx.powerState === undefined) ctx.powerState = reported.state;
    if (reported?.frequencyHz && ctx.frequencyHz === 0) ctx.frequencyHz = reported.frequencyHz;
  }

  /** Marks an alarm as open (found in the database), so it is not raised again and can be cleared. */
  markActive(serial: string, ruleId: string, channel: string): void {
    this.latch(this.ctx(serial), ruleId, channel).setActive();
  }

  loadModel(snapshot: ModelSnapshot): void {
    const key = modelKey(snapshot.serial, snapshot.channel, snapshot.ruleId);
    const existing = this.anomalies.get(key);
    if (existing) existing.params = { ...snapshot.params };
    else this.pendingModels.set(key, { ...snapshot.params });
  }

  /** A saved open window (loaded at start): continued when its rule's evaluator is created. */
  loadWindow(w: WindowStateSnapshot): void {
    if (w.state === null) return;
    this.pendingWindows.set(windowKey(w.serial, w.ruleId, w.channel), w.state);
  }

  /**
   * Windows changed since the last call (and marks them clean): error-burst
   * counters only (cheap, saved after every batch), or every windowed
   * evaluator (saved with the models and on stand-down).
   */
  takeDirtyWindows(which: 'errors' | 'all'): WindowStateSnapshot[] {
    const out: WindowStateSnapshot[] = this.evictedWindows;
    this.evictedWindows = [];
    for (const ctx of this.sensors.values()) {
      const serial = ctx.profile.serial;
      for (const [ruleId, { counter }] of ctx.errorCounters) {
        if (!counter.dirty) continue;
        counter.dirty = false;
        out.push({ serial, ruleId, channel: '', state: counter.snapshot() ?? null });
      }
      if (which === 'errors') continue;
      for (const [key, { evaluator }] of ctx.evaluators) {
        if (!(evaluator instanceof WindowThresholdEvaluator) || !evaluator.dirty) continue;
        evaluator.dirty = false;
        const [ruleId, channel] = key.split(SEP) as [string, string];
        out.push({ serial, ruleId, channel, state: evaluator.snapshot() ?? null });
      }
    }
    return out;
  }

  /** Windows whose save failed: dirty again, so the next save includes them. */
  markWindowsDirty(windows: readonly WindowStateSnapshot[]): void {
    for (const w of windows) {
      const ctx = this.sensors.peek(w.serial);
      if (ctx === undefined) {
        // evicted since: save it with the next round
        this.evictedWindows.push(w);
        continue;
      }
      if (w.channel === '') {
        const c = ctx.errorCounters.get(w.ruleId);
        if (c) c.counter.dirty = true;
      } else {
        const ev = ctx.evaluators.get(`${w.ruleId}${SEP}${w.channel}`)?.evaluator;
        if (ev instanceof WindowThresholdEvaluator) ev.dirty = true;
      }
    }
  }

  /**
   * Creates the error-burst counters of loaded windows now, so the windows of
   * a sensor that never sends again still close on the wall-clock watermark.
   */
  materializeWindows(): void {
    for (const key of [...this.pendingWindows.keys()]) {
      const [serial, ruleId, channel] = key.split(SEP) as [string, string, string];
      if (channel !== '') continue;
      const ctx = this.ctx(serial);
      const rule = this.rulesOf(ctx).find((r) => r.id === ruleId);
      if (rule?.type === 'error-burst') this.errorCounter(ctx, rule);
    }
  }

  private restoreWindow(serial: string, ruleId: string, channel: string, target: PersistentWindows): void {
    const key = windowKey(serial, ruleId, channel);
    const state = this.pendingWindows.get(key);
    if (state === undefined) return;
    this.pendingWindows.delete(key);
    target.restore(state);
  }

  /** Models changed since the last call (and marks them clean). */
  takeDirtyModels(): ModelSnapshot[] {
    const out: ModelSnapshot[] = this.evictedModels;
    this.evictedModels = [];
    for (const [key, ev] of this.anomalies) {
      if (!ev.dirty) continue;
      ev.dirty = false;
      const [serial, channel, ruleId] = key.split(SEP) as [string, string, string];
      out.push({ serial, channel, ruleId, params: { ...ev.params } });
    }
    return out;
  }

  /**
   * CLEAR decisions for open alarms whose rule no longer applies to their
   * sensor (removed from the file, disabled, rejected on reload, or overridden
   * away), so they do not stay open forever. Call after setRules and after
   * loading the open alarms.
   */
  orphans(nowUs: number): AlarmDecision[] {
    const out: AlarmDecision[] = [];
    for (const ctx of this.sensors.values()) {
      const ids = new Set(this.rulesOf(ctx).map((r) => r.id));
      for (const [key, latch] of ctx.latches) {
        if (!latch.active) continue;
        const [ruleId, channel] = key.split(SEP) as [string, string];
        if (ids.has(ruleId)) continue;
        latch.active = false;
        out.push({
          kind: 'CLEAR',
          serial: ctx.profile.serial,
          ruleId,
          ruleType: 'removed',
          channel,
          severity: 'INFO', // the stored episode keeps its own severity
          value: 0,
          threshold: 0,
          windowNs: 0,
          timeUs: nowUs,
          message: `cleared: rule ${ruleId} no longer applies to this sensor (rules version ${this.rules.version})`,
          actions: { notify: true },
        });
      }
    }
    return out;
  }

  get sensorCount(): number {
    return this.sensors.size;
  }

  /**
   * A reported state (birth, heartbeat, change, will). Operator actions are
   * expected behaviour, never alarms: asleep means silence is expected (an
   * open silence alarm clears); a wake or a sample-frequency change restarts
   * the silence clock and makes anomaly and rate rules re-learn and settle.
   */
  onState(state: SensorState, nowUs: number): AlarmDecision[] {
    const ctx = this.ctx(state.serial);
    const before = ctx.profile;
    if (state.kind !== '' && (before.kind !== state.kind || !sameLabels(before.labels, state.labels))) {
      ctx.profile = { serial: state.serial, kind: state.kind, labels: { ...state.labels } };
      ctx.rules = undefined;
    }
    if (state.kind !== '') ctx.kindKnown = true;
    const wasAsleep = ctx.powerState === 'ASLEEP' || ctx.powerState === 'OFFLINE';
    const woke = wasAsleep && state.state === 'AWAKE';
    const retuned =
      state.sampleFrequencyHz > 0 && ctx.frequencyHz > 0 && state.sampleFrequencyHz !== ctx.frequencyHz;
    ctx.powerState = state.state;
    if (state.sampleFrequencyHz > 0) ctx.frequencyHz = state.sampleFrequencyHz;
    if (state.state === 'AWAKE' && ctx.sleepOrdered && state.timeUs >= ctx.sleepOrdered.issuedAtUs) {
      ctx.sleepOrdered = undefined; // awake after the sleep order: it was applied and undone, or refused
    }
    if (state.state === 'ASLEEP' && ctx.sleepOrdered) ctx.sleepOrdered = undefined;
    const out: AlarmDecision[] = [];
    if (state.state === 'ASLEEP') {
      // Silence of a sleeping sensor is expected: clear.
      this.clearSilence(ctx, state.timeUs, out);
    } else if (woke || retuned) {
      this.resettle(ctx, state.timeUs, nowUs);
    } else if (ctx.lastArrivalUs === undefined) {
      ctx.lastArrivalUs = nowUs; // an awake sensor that has not sent data yet: start the silence clock
    }
    return out;
  }

  /**
   * A command on its way to a sensor (the alarm service's queue sees every
   * command): a sleep order makes silence expected from now, even before the
   * sensor acknowledges it (or while it is offline and the order waits).
   */
  onCommand(cmd: Command, nowUs: number): AlarmDecision[] {
    const ctx = this.ctx(cmd.serial);
    const out: AlarmDecision[] = [];
    if (cmd.type === 'sleep') {
      const untilUs = cmd.expiresAtUs ?? Number.POSITIVE_INFINITY;
      if (untilUs <= nowUs) return out;
      ctx.sleepOrdered = { issuedAtUs: cmd.issuedAtUs, untilUs };
      this.clearSilence(ctx, nowUs, out);
    } else if (cmd.type === 'awake') {
      ctx.sleepOrdered = undefined;
    }
    return out;
  }

  private clearSilence(ctx: SensorCtx, timeUs: number, out: AlarmDecision[]): void {
    for (const rule of this.rulesOf(ctx)) {
      if (rule.type === 'silence') this.decide(ctx, rule, '', timeUs, 0, 0, false, true, out);
    }
  }

  /** The signal restarts at event time `atUs` (wake, new sample rate). */
  private resettle(ctx: SensorCtx, atUs: number, nowUs: number): void {
    ctx.lastArrivalUs = nowUs;
    ctx.expectedIntervalUs.clear();
    ctx.lastBatchStartUs.clear();
    ctx.settleFromUs = atUs;
    for (const plan of ctx.plans.values()) {
      for (const step of plan.steps) settle(step.rule, step.evaluator, atUs);
    }
  }

  onBatch(batch: MeasurementBatch, nowUs: number): AlarmDecision[] {
    const ctx = this.ctx(batch.serial);
    const out: AlarmDecision[] = [];
    if (batch.values.length === 0) return out;
    const times = sampleTimesUs(batch);
    this.trackInterval(ctx, batch, times, nowUs);
    const plan = this.planFor(ctx, batch.channel);
    const first = times[0] as number;
    for (const { rule, latch } of plan.silence)
      this.decideWith(latch, rule, ctx, '', first, 0, 0, false, true, out);
    this.out = out;
    try {
      for (const step of plan.steps) {
        const late = step.evaluator.process(times, batch.values, step.sink, nowUs);
        if (late > 0) this.onLate(step.rule.type, late);
      }
    } finally {
      this.out = NO_OUT;
    }
    return out;
  }

  /** Where the sinks of channel plans write (set for the duration of one onBatch). */
  private out: AlarmDecision[] = NO_OUT;

  private planFor(ctx: SensorCtx, channel: string): ChannelPlan {
    const rules = this.rulesOf(ctx);
    let plan = ctx.plans.get(channel);
    if (plan !== undefined) return plan;
    plan = { silence: [], steps: [] };
    for (const rule of rules) {
      if (rule.type === 'silence') {
        plan.silence.push({ rule, latch: this.latch(ctx, rule.id, '', rule) });
        continue;
      }
      if (rule.type === 'error-burst') continue;
      if (rule.channel !== channel && rule.channel !== '*') continue;
      const evaluator = this.evaluator(ctx, rule, ctx.profile.serial, channel);
      const latch = this.latch(ctx, rule.id, channel, rule);
      const sink: Sink = (t, value, threshold, raise, clear) =>
        this.decideWith(latch, rule, ctx, channel, t, value, threshold, raise, clear, this.out);
      plan.steps.push({ rule, evaluator, sink });
    }
    ctx.plans.set(channel, plan);
    return plan;
  }

  onLogs(batch: LogBatch, nowUs: number): AlarmDecision[] {
    const ctx = this.ctx(batch.serial);
    const out: AlarmDecision[] = [];
    for (const rule of this.rulesOf(ctx)) {
      if (rule.type !== 'error-burst') continue;
      const counter = this.errorCounter(ctx, rule);
      let late = 0;
      for (const e of batch.entries) {
        if (!counter.add(e.timeUs, e.level === 'ERROR', e.errorCode, nowUs)) late++;
      }
      if (late > 0) this.onLate(rule.type, late);
      this.closeErrorWindows(ctx, rule, counter, out);
    }
    return out;
  }

  /** Wall-clock driven work: silence, and closing error windows of sensors that went quiet. */
  tick(nowUs: number): AlarmDecision[] {
    const out: AlarmDecision[] = [];
    this.out = out;
    try {
      for (const ctx of this.sensors.values()) {
        for (const plan of ctx.plans.values()) {
          for (const step of plan.steps) step.evaluator.idle?.(nowUs, step.sink);
        }
      }
    } finally {
      this.out = NO_OUT;
    }
    for (const ctx of this.sensors.values()) {
      for (const rule of this.rulesOf(ctx)) {
        if (rule.type === 'silence') this.checkSilence(ctx, rule, nowUs, out);
        else if (rule.type === 'error-burst') {
          const c = ctx.errorCounters.get(rule.id);
          if (c) this.closeErrorWindows(ctx, rule, c.counter, out, nowUs);
        }
      }
    }
    return out;
  }

  private checkSilence(ctx: SensorCtx, rule: SilenceRule, nowUs: number, out: AlarmDecision[]): void {
    if (ctx.lastArrivalUs === undefined || ctx.powerState === 'ASLEEP') return;
    if (ctx.sleepOrdered !== undefined) {
      if (nowUs < ctx.sleepOrdered.untilUs) return; // ordered to sleep: silence is expected
      ctx.sleepOrdered = undefined;
      ctx.lastArrivalUs = Math.max(ctx.lastArrivalUs, nowUs); // the order expired: count from now
    }
    let expected = ctx.frequencyHz > 0 ? 1e6 / ctx.frequencyHz : 0;
    for (const v of ctx.expectedIntervalUs.values()) if (v > expected) expected = v;
    const limitUs = Math.max(expected * rule.factor, rule.minSilenceUs);
    const silentUs = nowUs - ctx.lastArrivalUs;
    const raise = silentUs > limitUs;
    this.decide(ctx, rule, '', nowUs, silentUs / 1e6, limitUs / 1e6, raise, !raise, out);
  }

  private closeErrorWindows(
    ctx: SensorCtx,
    rule: Rule & { type: 'error-burst' },
    counter: ErrorBurstCounter,
    out: AlarmDecision[],
    nowUs?: number,
  ): void {
    const prefix = `${rule.id}${SEP}`;
    const tracked: string[] = [];
    for (const [key, latch] of ctx.latches) {
      if (key.startsWith(prefix) && latch.active) tracked.push(key.slice(prefix.length));
    }
    counter.advance(
      tracked,
      (code, count, endUs) => {
        this.decide(
          ctx,
          rule,
          code,
          endUs,
          count,
          rule.raise.threshold,
          count > 0 && compare(count, rule.raise),
          compare(count, rule.clear),
          out,
        );
      },
      nowUs,
    );
  }

  private decide(
    ctx: SensorCtx,
    rule: Rule,
    channel: string,
    timeUs: number,
    value: number,
    threshold: number,
    raise: boolean,
    clear: boolean,
    out: AlarmDecision[],
  ): void {
    this.decideWith(
      this.latch(ctx, rule.id, channel, rule),
      rule,
      ctx,
      channel,
      timeUs,
      value,
      threshold,
      raise,
      clear,
      out,
    );
  }

  private decideWith(
    latch: AlarmLatch,
    rule: Rule,
    ctx: SensorCtx,
    channel: string,
    timeUs: number,
    value: number,
    threshold: number,
    raise: boolean,
    clear: boolean,
    out: AlarmDecision[],
  ): void {
    const wasChattering = latch.chattering;
    const d = latch.evaluate(timeUs, raise, clear);
    if (d === undefined) return;
    const windowUs = 'window' in rule ? rule.window.sizeUs : 0;
    let message = describe(rule, channel, d, value, threshold);
    if (d === 'RAISE' && latch.chattering && rule.chatter) {
      message += ` [chattering: ${rule.chatter.raises}+ raises within ${windowText(rule.chatter.withinUs)}; held until calm for ${windowText(rule.chatter.withinUs)}]`;
    } else if (d === 'CLEAR' && wasChattering) {
      message += ' [was chattering]';
    }
    out.push({
      kind: d,
      serial: ctx.profile.serial,
      ruleId: rule.id,
      ruleType: rule.type,
      channel,
      severity: rule.severity,
      value,
      threshold,
      windowNs: windowUs * 1000,
      timeUs,
      message,
      actions: rule.actions,
    });
  }

  private trackInterval(ctx: SensorCtx, batch: MeasurementBatch, times: number[], nowUs: number): void {
    ctx.lastArrivalUs = nowUs;
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    // A batch of n samples at period p covers n*p: the next one is due about that much later.
    const spanUs = batch.samplePeriodNs > 0 ? (times.length * batch.samplePeriodNs) / 1000 : last - first;
    const prev = ctx.lastBatchStartUs.get(batch.channel);
    const gapUs = prev !== undefined && first > prev ? first - prev : 0;
    ctx.lastBatchStartUs.set(batch.channel, first);
    ctx.expectedIntervalUs.set(batch.channel, Math.max(spanUs, gapUs));
  }

  private ctx(serial: string): SensorCtx {
    let ctx = this.sensors.get(serial);
    if (ctx === undefined) {
      ctx = {
        profile: { serial, labels: {} },
        kindKnown: false,
        powerState: undefined,
        frequencyHz: 0,
        sleepOrdered: undefined,
        settleFromUs: undefined,
        rules: undefined,
        evaluators: new Map(),
        plans: new Map(),
        errorCounters: new Map(),
        latches: new Map(),
        lastArrivalUs: undefined,
        expectedIntervalUs: new Map(),
        lastBatchStartUs: new Map(),
        anomalyKeys: new Set(),
      };
      this.sensors.set(serial, ctx);
    }
    return ctx;
  }

  private rulesOf(ctx: SensorCtx): Rule[] {
    if (ctx.rules === undefined) {
      ctx.rules = resolveRules(this.rules, ctx.profile);
      ctx.plans.clear();
      for (const rule of ctx.rules) {
        for (const [key, latch] of ctx.latches) {
          if (key.startsWith(`${rule.id}${SEP}`))
            latch.configure(rule.raiseForUs, rule.clearForUs, rule.chatter);
        }
      }
    }
    return ctx.rules;
  }

  private latch(ctx: SensorCtx, ruleId: string, channel: string, rule?: Rule): AlarmLatch {
    const key = `${ruleId}${SEP}${channel}`;
    let latch = ctx.latches.get(key);
    if (latch === undefined) {
      latch = new AlarmLatch(rule?.raiseForUs ?? 0, rule?.clearForUs ?? 0, rule?.chatter);
      ctx.latches.set(key, latch);
    }
    return latch;
  }

  private evaluator(ctx: SensorCtx, rule: Rule, serial: string, channel: string): SampleEvaluator {
    if (rule.type === 'anomaly' && rule.model === 'mad') {
      const key = `${rule.id}${SEP}${channel}`;
      const bound = ctx.evaluators.get(key);
      if (bound !== undefined && bound.evaluator instanceof MadAnomalyEvaluator) {
        bound.evaluator.updateRule(rule);
        return bound.evaluator;
      }
      const ev = new MadAnomalyEvaluator(rule);
      if (ctx.settleFromUs !== undefined) ev.resettle(ctx.settleFromUs + rule.settleUs);
      ctx.evaluators.set(key, { fingerprint: fingerprint(rule), evaluator: ev });
      return ev;
    }
    if (rule.type === 'anomaly') {
      const key = modelKey(serial, channel, rule.id);
      let ev = this.anomalies.get(key);
      if (ev === undefined) {
        ev = new AnomalyEvaluator(rule, this.pendingModels.get(key));
        this.pendingModels.delete(key);
        this.anomalies.set(key, ev);
        ctx.anomalyKeys.add(key);
        if (ctx.settleFromUs !== undefined && ev.params.lastTimeUs < ctx.settleFromUs)
          settle(rule, ev, ctx.settleFromUs);
      } else {
        ev.updateRule(rule);
      }
      return ev;
    }
    const key = `${rule.id}${SEP}${channel}`;
    const f = fingerprint(rule);
    const bound = ctx.evaluators.get(key);
    if (bound !== undefined && bound.fingerprint === f) return bound.evaluator;
    let evaluator: SampleEvaluator;
    switch (rule.type) {
      case 'threshold':
        evaluator = WindowThresholdEvaluator.threshold(rule);
        break;
      case 'vibration':
        evaluator = WindowThresholdEvaluator.vibration(rule);
        break;
      case 'rate-of-change':
        evaluator = new RateOfChangeEvaluator(rule);
        if (ctx.settleFromUs !== undefined) settle(rule, evaluator, ctx.settleFromUs);
        break;
      default:
        throw new Error(`BUG: no sample evaluator for rule type ${rule.type}`);
    }
    if (evaluator instanceof WindowThresholdEvaluator)
      this.restoreWindow(serial, rule.id, channel, evaluator);
    ctx.evaluators.set(key, { fingerprint: f, evaluator });
    return evaluator;
  }

  private errorCounter(ctx: SensorCtx, rule: Rule & { type: 'error-burst' }): ErrorBurstCounter {
    const f = fingerprint(rule);
    const c = ctx.errorCounters.get(rule.id);
    if (c !== undefined && c.fingerprint === f) return c.counter;
    const counter = new ErrorBurstCounter(rule);
    this.restoreWindow(ctx.profile.serial, rule.id, '', counter);
    ctx.errorCounters.set(rule.id, { fingerprint: f, counter });
    return counter;
  }
}

function settle(rule: Rule, evaluator: SampleEvaluator, atUs: number): void {
  if (
    rule.type === 'anomaly' &&
    (evaluator instanceof AnomalyEvaluator || evaluator instanceof MadAnomalyEvaluator)
  )
    evaluator.resettle(atUs + rule.settleUs);
  else if (rule.type === 'rate-of-change' && evaluator instanceof RateOfChangeEvaluator)
    evaluator.reset(atUs + rule.settleUs);
}

function windowKey(serial: string, ruleId: string, channel: string): string {
  return `${serial}${SEP}${ruleId}${SEP}${channel}`;
}

function modelKey(serial: string, channel: string, ruleId: string): string {
  return `${serial}${SEP}${channel}${SEP}${ruleId}`;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
