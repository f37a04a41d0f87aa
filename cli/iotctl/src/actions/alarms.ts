import { randomUUID } from 'node:crypto';
import type { AlarmListParams } from '@sensor-streaming/control';
import { ControlError } from '@sensor-streaming/control';
import { type Alarm, alarmCodec, bindingPatterns } from '@sensor-streaming/protocol';
import { EXIT_OK } from '../cli-error.js';
import { type Context, err, out, withSession } from '../context.js';
import { formatAlarmEvent, formatAlarmTable } from '../format/alarms.js';
import { json } from '../format/text.js';

export interface AlarmsInput {
  params: AlarmListParams;
  json: boolean;
  follow: boolean;
}

function matches(a: Alarm, p: AlarmListParams): boolean {
  if (p.serial !== undefined && a.serial !== p.serial) return false;
  if (p.severity !== undefined && a.severity !== p.severity) return false;
  return true;
}

/** `iotctl alarms`: list (from the alarm service), then with --follow stream new transitions until interrupted. */
export async function listAlarms(ctx: Context, input: AlarmsInput): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    if (!input.follow) {
      const alarms = await session.alarms.listAlarms(input.params);
      out(ctx, input.json ? json(alarms) : formatAlarmTable(alarms, ctx.style, ctx.nowMs()));
      return EXIT_OK;
    }
    // Subscribe first, so nothing raised between the listing and the subscription is missed.
    const stop = new Promise<void>((resolve) => {
      const remove = ctx.io.onInterrupt(() => {
        remove();
        resolve();
      });
    });
    const consumer = await session.bus.consume({
      queue: {
        name: `iotctl.alarms.${randomUUID()}`,
        type: 'classic',
        bindings: [
          input.params.serial === undefined
            ? bindingPatterns.alarms
            : `sensor.${input.params.serial}.alarms.*`,
        ],
        exclusive: true,
        autoDelete: true,
        deadLetter: false,
      },
      prefetch: 100,
      handler: async (d) => {
        let alarm: Alarm;
        try {
          alarm = alarmCodec.decode(d.body, d.contentType);
        } catch (e) {
          err(
            ctx,
            `iotctl: skipped an invalid alarm message on ${d.routingKey}: ${e instanceof Error ? e.message : e}\n`,
          );
          return;
        }
        if (!matches(alarm, input.params)) return;
        if (input.params.active === true && alarm.transition === 'CLEARED') return;
        out(ctx, input.json ? `${JSON.stringify(alarm)}\n` : formatAlarmEvent(alarm, ctx.style));
      },
    });
    try {
      const alarms = await session.alarms.listAlarms(input.params);
      if (input.json) for (const a of alarms) out(ctx, `${JSON.stringify(a)}\n`);
      else out(ctx, formatAlarmTable(alarms, ctx.style, ctx.nowMs()));
    } catch (e) {
      if (!(e instanceof ControlError)) throw e;
      err(ctx, `iotctl: ${e.message}; showing new transitions only\n`);
    }
    if (!input.json) err(ctx, 'following alarm transitions (Ctrl-C to stop)\n');
    await stop;
    await consumer.stop();
    return EXIT_OK;
  });
}

export async function ackAlarm(ctx: Context, alarmId: string, asJson: boolean): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    const { status, alarm } = await session.alarms.ackAlarm(alarmId);
    if (asJson) out(ctx, json({ status, alarm }));
    else {
      const what = `${alarm.alarmId} (${alarm.serial} ${alarm.rule} ${alarm.severity})`;
      out(
        ctx,
        status === 'ACKNOWLEDGED'
          ? `acknowledged ${what} by ${alarm.acknowledgedBy ?? '?'}\n`
          : `${what} was already acknowledged by ${alarm.acknowledgedBy ?? 'someone'} at ${alarm.acknowledgedAt ?? '?'}\n`,
      );
    }
    return EXIT_OK;
  });
}
