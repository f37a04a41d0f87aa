import type { Bus } from '@sensor-streaming/bus';
import { type Commander, createCommander } from '@sensor-streaming/control';
import { type Pool, recordIssuedCommand, type SensorIdCache } from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';
import type { AlarmDecision } from './engine/rule-engine.js';
import type { AlarmMetrics } from './metrics.js';

/**
 * Automatic commands of alarm rules, through packages/control's command path
 * (the one iotctl and the registry use: a Command with a fresh id, published
 * with mandatory=true to sensor.<serial>.commands.<type> with the TTL as
 * expiration, without waiting for the ack), then recorded in `commands`
 * (ON CONFLICT (id) DO NOTHING: the registry records it too). issued_by is the
 * service's broker user (`actor`), what the registry records from the validated
 * user_id too, whichever writes first; the rule is only the command's issuedBy hint.
 * Runs in the background: never blocks rule evaluation.
 */
export class CommandIssuer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;
  private readonly commander: Commander;

  constructor(
    private readonly deps: {
      bus: Bus;
      pool: Pool;
      sensorIds: SensorIdCache;
      metrics: AlarmMetrics;
      logger: Logger;
      /** The broker user the bus publishes as (recorded as issued_by). */
      actor: string;
    },
  ) {
    this.log = deps.logger.child({ module: 'commands' });
    this.commander = createCommander(deps.bus);
  }

  issue(d: AlarmDecision): void {
    const action = d.actions.command;
    if (action === undefined) return;
    const p = this.run(d, action).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    await this.commander.close();
  }

  private async run(
    d: AlarmDecision,
    action: NonNullable<AlarmDecision['actions']['command']>,
  ): Promise<void> {
    const { pool, sensorIds, metrics } = this.deps;
    const issuedBy = `alarm-service:${d.ruleId}`;
    const request =
      action.type === 'changesamplefrequency' && action.sampleFrequencyHz !== undefined
        ? { type: action.type, sampleFrequencyHz: action.sampleFrequencyHz }
        : { type: action.type };
    const ctx = { serial: d.serial, rule: d.ruleId, type: action.type };
    const issuedAtUs = Date.now() * 1000;
    try {
      const [outcome] = await this.commander.issue([d.serial], request, {
        issuedBy,
        ttlMs: action.ttlMs,
        wait: false,
      });
      const status = outcome?.status ?? 'FAILED';
      metrics.commands.inc({
        type: action.type,
        status: status === 'UNROUTABLE' ? 'UNROUTABLE' : status === 'PUBLISHED' ? 'PUBLISHED' : 'FAILED',
      });
      if (outcome === undefined || status !== 'PUBLISHED') {
        this.log.warn({ ...ctx, status, reason: outcome?.reason }, 'automatic command not delivered');
        return;
      }
      this.log.info({ ...ctx, commandId: outcome.commandId }, 'automatic command published');
      const sensorId = (await sensorIds.resolve([d.serial])).get(d.serial) as number;
      await recordIssuedCommand(pool, {
        commandId: outcome.commandId,
        sensorId,
        serial: d.serial,
        type: action.type,
        params:
          request.sampleFrequencyHz === undefined ? {} : { sampleFrequencyHz: request.sampleFrequencyHz },
        issuedBy: this.deps.actor,
        issuedAtUs,
        expiresAtUs: issuedAtUs + action.ttlMs * 1000,
      });
    } catch (err) {
      metrics.commands.inc({ type: action.type, status: 'FAILED' });
      this.log.warn({ ...ctx, err }, 'automatic command not delivered');
    }
  }
}
