import type { Bus } from '@sensor-streaming/bus';
import { UnroutableError } from '@sensor-streaming/bus';
import { buildCommand } from '@sensor-streaming/control';
import { type Pool, recordIssuedCommand, type SensorIdCache } from '@sensor-streaming/db';
import { commandCodec, routingKeys } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import type { AlarmDecision } from './engine/rule-engine.js';
import type { AlarmMetrics } from './metrics.js';

/**
 * Automatic commands of alarm rules, through the same path as iotctl: a
 * Command with a fresh id, recorded in `commands` (ON CONFLICT (id) DO NOTHING:
 * the registry may record it too), then published with mandatory=true to
 * sensor.<serial>.commands.<type> with the command TTL as message expiration.
 * Runs in the background: never blocks rule evaluation.
 */
export class CommandIssuer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      bus: Bus;
      pool: Pool;
      sensorIds: SensorIdCache;
      metrics: AlarmMetrics;
      logger: Logger;
    },
  ) {
    this.log = deps.logger.child({ module: 'commands' });
  }

  issue(d: AlarmDecision): void {
    const action = d.actions.command;
    if (action === undefined) return;
    const p = this.run(d, action).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(
    d: AlarmDecision,
    action: NonNullable<AlarmDecision['actions']['command']>,
  ): Promise<void> {
    const { bus, pool, sensorIds, metrics } = this.deps;
    const issuedBy = `alarm-service:${d.ruleId}`;
    const request =
      action.type === 'changesamplefrequency' && action.sampleFrequencyHz !== undefined
        ? { type: action.type, sampleFrequencyHz: action.sampleFrequencyHz }
        : { type: action.type };
    const ctx = { serial: d.serial, rule: d.ruleId, type: action.type };
    try {
      const command = buildCommand(d.serial, request, { issuedBy, ttlMs: action.ttlMs });
      const sensorId = (await sensorIds.resolve([d.serial])).get(d.serial) as number;
      await recordIssuedCommand(pool, {
        commandId: command.commandId,
        sensorId,
        serial: d.serial,
        type: command.type,
        params:
          command.sampleFrequencyHz === undefined ? {} : { sampleFrequencyHz: command.sampleFrequencyHz },
        issuedBy,
        issuedAtUs: command.issuedAtUs,
        expiresAtUs: command.expiresAtUs ?? null,
      });
      await bus.publish(routingKeys.command(d.serial, command.type), commandCodec.encode(command), {
        mandatory: true,
        messageId: command.commandId,
        expirationMs: action.ttlMs,
        headers: { 'x-issued-by': issuedBy },
      });
      metrics.commands.inc({ type: action.type, status: 'PUBLISHED' });
      this.log.info({ ...ctx, commandId: command.commandId }, 'automatic command published');
    } catch (err) {
      const status = err instanceof UnroutableError ? 'UNROUTABLE' : 'FAILED';
      metrics.commands.inc({ type: action.type, status });
      this.log.warn({ ...ctx, err, status }, 'automatic command not delivered');
    }
  }
}
