import {
  type Bus,
  type Consumer,
  createBus,
  type Delivery,
  serviceQueue,
  urlUser,
} from '@sensor-streaming/bus';
import {
  checkDatabase,
  createSchemaGate,
  createPool,
  createRegistrationGate,
  createSensorIdCache,
  expireShelves,
  getSensorProfiles,
  listOpenAlarms,
  listUnpublishedTransitions,
  pruneAlarmQueues,
  loadAlarmModelStates,
  loadAlarmWindowStates,
  saveAlarmWindowStates,
  type NotificationChannel,
  type Pool,
  saveAlarmModelStates,
} from '@sensor-streaming/db';
import {
  bindingPatterns,
  type Command,
  commandCodec,
  type LogBatch,
  logBatchCodec,
  type MeasurementBatch,
  measurementBatchCodec,
  parseRoutingKey,
  ProtocolError,
  type SensorState,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { createSerialStateMetrics, type HealthCheck, type Logger, LruMap } from '@sensor-streaming/runtime';
import type { Registry } from 'prom-client';
import { AlarmLifecycle } from './alarm-lifecycle.js';
import { alarmRpcQueue } from '@sensor-streaming/control';
import { createAlarmRpcHandler } from './alarm-rpc.js';
import { CommandIssuer } from './command-issuer.js';
import type { AlarmServiceConfig } from './config.js';
import type { AnomalyModelParams } from './engine/evaluators.js';
import { type AlarmDecision, RuleEngine } from './engine/rule-engine.js';
import { Leadership } from './leadership.js';
import { type AlarmMetrics, channelLabel, createAlarmMetrics } from './metrics.js';
import { createEmailSender } from './notify/email.js';
import type { NotificationSender } from './notify/notification.js';
import { NotificationWorker } from './notify/notification-worker.js';
import { createWebhookSender } from './notify/webhook.js';
import { RuleSource } from './rules/rule-source.js';
import type { RuleSet } from './rules/rule-types.js';

export interface AlarmServiceDeps {
  config: AlarmServiceConfig;
  logger: Logger;
  registry: Registry;
}

export interface AlarmService {
  start(): Promise<void>;
  stop(): Promise<void>;
  readiness: HealthCheck[];
  /** The database schema this code needs (runService waits for it before start()). */
  startGates: HealthCheck[];
  /** Re-reads the rules file now (main.ts calls it on SIGHUP). */
  reloadRules(): Promise<void>;
  /** True while this replica is the active evaluator. */
  readonly isLeader: boolean;
  /** Saves changed anomaly models now (also runs periodically and on stop). */
  persistModels(): Promise<number>;
  readonly rules: RuleSet | undefined;
}

type Incoming =
  | { kind: 'data'; msg: MeasurementBatch }
  | { kind: 'logs'; msg: LogBatch }
  | { kind: 'state'; msg: SensorState }
  | { kind: 'command'; msg: Command };

const PROFILE_RETRY_MS = 5 * 60_000;

function finiteParams(p: Record<string, unknown>, samples: number): AnomalyModelParams | undefined {
  const { mean, variance, lastTimeUs } = p;
  if (typeof mean !== 'number' || !Number.isFinite(mean)) return undefined;
  if (typeof variance !== 'number' || !Number.isFinite(variance) || variance < 0) return undefined;
  return {
    mean,
    variance,
    count: samples,
    lastTimeUs: typeof lastTimeUs === 'number' && Number.isFinite(lastTimeUs) ? lastTimeUs : 0,
  };
}

/**
 * Builds the alarm service: rules file, rule engine, alarm lifecycle,
 * notifications, automatic commands, leader election (one active evaluator),
 * and the consumer on the quorum queue `alarm-service` bound to
 * sensor.*.data, sensor.*.logs and sensor.*.state.
 */
export function createAlarmService(deps: AlarmServiceDeps): AlarmService {
  const { config, registry } = deps;
  const log = deps.logger.child({ module: 'alarm-service' });
  const metrics: AlarmMetrics = createAlarmMetrics(registry);
  let stopping = false;

  const pool: Pool = createPool({
    url: config.databaseUrl,
    logger: deps.logger.child({ module: 'db' }),
    max: 6,
    applicationName: config.serviceName,
  });
  const bus: Bus = createBus({
    url: config.amqpUrl,
    connectionName: config.serviceName,
    logger: deps.logger.child({ module: 'bus' }),
    registry,
    tls: config.tls,
  });
  const serialState = createSerialStateMetrics(registry);
  const sensorIds = createSensorIdCache(pool, {
    maxEntries: config.sensorStateMax,
    onEvict: () => serialState.evicted('alarm.sensor_ids'),
  });
  serialState.trackSize('alarm.sensor_ids', () => sensorIds.size);
  // REGISTRATION=closed: messages of serials that are not provisioned are acked and ignored here (the
  // ingesters and the registry dead-letter them); they never reach the rule engine or create state
  const gate = createRegistrationGate({
    config: config.registration,
    db: pool,
    onEvict: () => serialState.evicted('alarm.registration'),
    onLookup: (n) => serialState.registrationLookups(n),
  });
  serialState.trackSize('alarm.registration', () => gate.size);
  const senders: Partial<Record<NotificationChannel, NotificationSender>> = {};
  if (config.webhook) senders.webhook = createWebhookSender(config.webhook);
  const email = config.smtp ? createEmailSender(config.smtp) : undefined;
  if (email) senders.email = email;
  const notifications = new NotificationWorker({
    pool,
    senders,
    retry: config.notify,
    pollMs: config.notify.pollMs,
    logger: deps.logger,
    counter: metrics.notifications,
  });
  const commands = new CommandIssuer({
    bus,
    pool,
    sensorIds,
    metrics,
    logger: deps.logger,
    actor: urlUser(config.amqpUrl),
  });
  const lifecycle = new AlarmLifecycle({
    pool,
    bus,
    sensorIds,
    commands,
    metrics,
    logger: deps.logger,
    channels: notifications.channels,
    onStored: () => notifications.kick(),
    stopping: () => stopping,
  });
  const queue = serviceQueue(config.queueName, [
    bindingPatterns.data,
    bindingPatterns.logs,
    bindingPatterns.state,
    // Orders to sensors (from iotctl, the registry or this service): a sleep order makes silence expected.
    bindingPatterns.commands,
  ]);

  let engine: RuleEngine | undefined;
  serialState.trackSize('rule_engine.sensors', () => engine?.sensorCount ?? 0);
  let consumer: Consumer | undefined;
  let rpc: Consumer | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let persistTimer: NodeJS.Timeout | undefined;
  let outboxTimer: NodeJS.Timeout | undefined;
  let ticking = false;
  let relaying = false;
  const profileLookups = new LruMap<string, number>({
    maxEntries: config.sensorStateMax,
    onEvict: () => serialState.evicted('alarm.profile_lookups'),
  });

  const ruleSource = new RuleSource({
    file: config.rulesFile,
    logger: deps.logger,
    checkIntervalMs: config.rulesCheckIntervalMs,
    watch: config.rulesWatch,
    onChange: (set) => {
      if (engine === undefined) return;
      engine.setRules(set);
      void lifecycle.apply(engine.orphans(Date.now() * 1000)).catch((err: unknown) => {
        log.error({ err }, 'clearing alarms of removed rules failed');
      });
    },
  });

  function decode(d: Delivery): Incoming {
    const key = parseRoutingKey(d.routingKey);
    let incoming: Incoming;
    if (key.kind === 'data')
      incoming = { kind: 'data', msg: measurementBatchCodec.decode(d.body, d.contentType) };
    else if (key.kind === 'logs')
      incoming = { kind: 'logs', msg: logBatchCodec.decode(d.body, d.contentType) };
    else if (key.kind === 'state')
      incoming = { kind: 'state', msg: sensorStateCodec.decode(d.body, d.contentType) };
    else if (key.kind === 'command')
      incoming = { kind: 'command', msg: commandCodec.decode(d.body, d.contentType) };
    else throw new ProtocolError('routingKey', `not a data, logs, state or command key: ${d.routingKey}`);
    if (incoming.msg.serial !== key.serial) {
      throw new ProtocolError('serial', `is ${incoming.msg.serial} but the routing key says ${key.serial}`);
    }
    return incoming;
  }

  function kindOf(routingKey: string): string {
    const k = routingKey.split('.')[2];
    if (k === 'commands') return 'command';
    return k === 'data' || k === 'logs' || k === 'state' ? k : 'other';
  }

  /** Kind and labels from the sensors table for sensors not yet described by a SensorState. */
  async function lookupProfiles(e: RuleEngine, items: Incoming[]): Promise<void> {
    const now = Date.now();
    const wanted = new Set<string>();
    for (const it of items) {
      const s = it.msg.serial;
      if (it.kind === 'state' || it.kind === 'command' || e.knowsSensor(s)) continue;
      const last = profileLookups.get(s);
      if (last !== undefined && now - last < PROFILE_RETRY_MS) continue;
      wanted.add(s);
    }
    if (wanted.size === 0) return;
    for (const s of wanted) profileLookups.set(s, now);
    try {
      for (const p of await getSensorProfiles(pool, [...wanted])) {
        if (p.kind !== '')
          e.setProfile(p.serial, p.kind, p.labels, {
            state: p.reportedState,
            frequencyHz: p.reportedFrequencyHz,
          });
      }
    } catch (err) {
      log.warn({ err, sensors: wanted.size }, 'sensor profile lookup failed; rules by channel only for now');
    }
  }

  async function handleBatch(ds: Delivery[]) {
    const e = engine;
    if (e === undefined) throw new Error('not the active evaluator'); // requeued
    const rejected: Array<{ index: number; reason: string }> = [];
    const items: Incoming[] = [];
    const received: Record<string, number> = {};
    for (const [index, d] of ds.entries()) {
      const kind = kindOf(d.routingKey);
      received[kind] = (received[kind] ?? 0) + 1;
      try {
        items.push(decode(d));
      } catch (err) {
        // Bad input never blocks the queue: dead-letter this message only, with the reason.
        const reason = err instanceof ProtocolError ? err.code : 'DECODE_FAILED';
        const message = err instanceof Error ? err.message : String(err);
        metrics.rejected.inc({ kind, reason });
        rejected.push({ index, reason: message });
        if (err instanceof ProtocolError)
          log.warn({ routingKey: d.routingKey, reason: message }, 'message rejected');
        else
          log.error(
            { routingKey: d.routingKey, err },
            'message could not be decoded (not a validation error)',
          );
      }
    }
    for (const [kind, n] of Object.entries(received)) metrics.received.inc({ kind }, n);
    if (gate.mode === 'closed' && items.length > 0) {
      const no = await gate.refused([...new Set(items.map((it) => it.msg.serial))]);
      if (no.size > 0) {
        for (let i = items.length - 1; i >= 0; i--) {
          const it = items[i] as Incoming;
          if (!no.has(it.msg.serial)) continue;
          items.splice(i, 1);
          serialState.unprovisioned(it.kind);
        }
      }
    }
    await lookupProfiles(e, items);
    const nowUs = Date.now() * 1000;
    const decisions: AlarmDecision[] = [];
    const samples = new Map<string, number>();
    for (const it of items) {
      if (it.kind === 'data') {
        const ch = channelLabel(it.msg.channel);
        samples.set(ch, (samples.get(ch) ?? 0) + it.msg.values.length);
        decisions.push(...e.onBatch(it.msg, nowUs));
      } else if (it.kind === 'logs') {
        decisions.push(...e.onLogs(it.msg, nowUs));
      } else if (it.kind === 'command') {
        decisions.push(...e.onCommand(it.msg, nowUs));
      } else {
        decisions.push(...e.onState(it.msg, nowUs));
      }
    }
    for (const [channel, n] of samples) metrics.samples.inc({ channel }, n);
    await lifecycle.apply(decisions);
    // Error windows are saved before the batch is acked: a crash right now loses no count (a
    // redelivered entry is recognised and counted once). A failed save is retried with the next batch
    // rather than requeueing this one (which would count its samples twice in the other windows).
    await saveWindows(e, 'errors');
    return { rejected };
  }

  /** Saves changed windows; a failure is logged and they stay dirty for the next save. */
  async function saveWindows(e: RuleEngine, which: 'errors' | 'all'): Promise<number> {
    const windows = e.takeDirtyWindows(which);
    if (windows.length === 0) return 0;
    try {
      const ids = await sensorIds.resolve(windows.map((w) => w.serial));
      return await saveAlarmWindowStates(
        pool,
        windows.map((w) => ({
          sensorId: ids.get(w.serial) as number,
          rule: w.ruleId,
          channel: w.channel,
          state: w.state,
        })),
      );
    } catch (err) {
      e.markWindowsDirty(windows); // saved on the next round
      log.error({ err, windows: windows.length }, 'saving open windows failed');
      return 0;
    }
  }

  async function persistModels(): Promise<number> {
    const e = engine;
    if (e === undefined) return 0;
    await saveWindows(e, 'all');
    const models = e.takeDirtyModels();
    if (models.length === 0) return 0;
    try {
      const ids = await sensorIds.resolve(models.map((m) => m.serial));
      const n = await saveAlarmModelStates(
        pool,
        models.map((m) => ({
          sensorId: ids.get(m.serial) as number,
          channel: m.channel,
          model: m.ruleId,
          params: { mean: m.params.mean, variance: m.params.variance, lastTimeUs: m.params.lastTimeUs },
          samples: m.params.count,
        })),
      );
      metrics.modelsPersisted.inc(n);
      log.debug({ models: n }, 'anomaly models saved');
      return n;
    } catch (err) {
      // Marked clean already: the next samples mark them dirty again; a restart loses at most one interval.
      log.error({ err, models: models.length }, 'saving anomaly models failed');
      return 0;
    }
  }

  async function becomeActive(): Promise<void> {
    const rules = ruleSource.current;
    if (rules === undefined) throw new Error('BUG: rules not loaded');
    const e = new RuleEngine({
      rules,
      onLate: (ruleType, n) => metrics.late.inc({ rule_type: ruleType }, n),
      maxSensors: config.sensorStateMax,
      onEvict: (what) => serialState.evicted(`rule_engine.${what}`),
    });
    const open = await listOpenAlarms(pool);
    for (const a of open) e.markActive(a.serial, a.rule, a.channel);
    lifecycle.seed(open);
    let loaded = 0;
    for (const m of await loadAlarmModelStates(pool)) {
      const params = finiteParams(m.params, m.samples);
      if (params === undefined) {
        log.warn(
          { serial: m.serial, channel: m.channel, model: m.model },
          'ignoring an invalid stored model',
        );
        continue;
      }
      e.loadModel({ serial: m.serial, channel: m.channel, ruleId: m.model, params });
      loaded++;
    }
    let windows = 0;
    for (const w of await loadAlarmWindowStates(pool)) {
      e.loadWindow({ serial: w.serial, ruleId: w.rule, channel: w.channel, state: w.state });
      windows++;
    }
    e.materializeWindows();
    engine = e;
    profileLookups.clear();
    await lifecycle.apply(e.orphans(Date.now() * 1000));
    consumer = await bus.consumeBatch({
      queue,
      prefetch: config.consume.prefetch,
      maxBatch: config.consume.maxBatch,
      maxWaitMs: config.consume.maxWaitMs,
      handler: handleBatch,
    });
    tickTimer = setInterval(() => {
      if (ticking || engine === undefined) return;
      ticking = true;
      lifecycle
        .apply(engine.tick(Date.now() * 1000))
        .then(() => expireShelves(pool, notifications.channels))
        .then((back) => {
          if (back.length === 0) return;
          log.info({ shelves: back.length }, 'shelves expired');
          notifications.kick();
        })
        .catch((err) => log.error({ err }, 'tick failed'))
        .finally(() => {
          ticking = false;
        });
    }, config.tickIntervalMs);
    outboxTimer = setInterval(() => void relayOutbox(), Math.max(100, Math.floor(config.outboxRetryMs / 2)));
    notifications.start();
    persistTimer = setInterval(() => void persistModels(), config.modelPersistIntervalMs);
    metrics.leader.set(1);
    log.info(
      { openAlarms: open.length, models: loaded, windows, rulesVersion: rules.version },
      'evaluating the live stream',
    );
  }

  let lastPruneMs = 0;

  /** Publishes stored transitions whose first publish failed or never happened (crash, broker down). */
  async function relayOutbox(): Promise<number> {
    if (relaying || engine === undefined) return 0;
    relaying = true;
    try {
      if (Date.now() - lastPruneMs > 3_600_000) {
        lastPruneMs = Date.now();
        // done outbox and notification rows are kept a week for inspection, then removed
        const pruned = await pruneAlarmQueues(pool, 7 * 86_400_000);
        if (pruned > 0) log.info({ rows: pruned }, 'pruned published outbox and finished notification rows');
      }
      const pending = await listUnpublishedTransitions(pool, config.outboxRetryMs);
      metrics.outboxPending.set(pending.length);
      if (pending.length === 0) return 0;
      const n = await lifecycle.republish(pending);
      metrics.outboxRepublished.inc(n);
      log.info({ pending: pending.length, published: n }, 'outbox: published stored transitions');
      return n;
    } catch (err) {
      log.warn({ err }, 'outbox relay failed; retrying on the next round');
      return 0;
    } finally {
      relaying = false;
    }
  }

  async function standDown(): Promise<void> {
    metrics.leader.set(0);
    clearInterval(tickTimer);
    clearInterval(persistTimer);
    clearInterval(outboxTimer);
    await notifications.stop();
    await consumer?.stop(); // waits for the in-flight batch: its alarms are stored, then it is acked
    consumer = undefined;
    await lifecycle.drain();
    await persistModels();
    engine = undefined;
  }

  const leadership = new Leadership({
    pool,
    key: `sensor-streaming:${config.queueName}`,
    retryMs: config.leaderRetryMs,
    logger: deps.logger,
    onAcquire: becomeActive,
    onLose: standDown,
  });

  return {
    readiness: [
      { name: 'broker', check: () => bus.isConnected() },
      { name: 'database', check: () => checkDatabase(pool) },
    ],
    startGates: [createSchemaGate({ db: pool, logger: log })],
    get isLeader() {
      return leadership.isLeader && engine !== undefined;
    },
    get rules() {
      return ruleSource.current;
    },
    reloadRules: () => ruleSource.reload('SIGHUP'),
    persistModels,
    async start() {
      await ruleSource.load();
      await bus.start();
      await bus.declareQueue(queue);
      ruleSource.start();
      // one queue, two keys: the broker lets a read-only role publish only the read key (listings), and
      // the handler refuses a method that changes alarms on it, or from a user without the grant
      rpc = await bus.rpcServe(
        alarmRpcQueue(),
        createAlarmRpcHandler({
          db: pool,
          channels: () => notifications.channels,
          onQueued: () => notifications.kick(),
          grants: config.rpcGrants,
          onRefused: (r) => log.warn(r, 'alarm RPC refused'),
        }),
      );
      leadership.start();
      log.info({ queue: config.queueName, rulesFile: config.rulesFile }, 'alarm service started');
    },
    async stop() {
      stopping = true;
      ruleSource.stop();
      await rpc?.stop();
      await leadership.stop();
      await commands.drain();
      await notifications.stop();
      email?.close();
      await bus.stop();
      await pool.end();
      log.info('alarm service stopped');
    },
  };
}
