import type { Delivery } from '@sensor-streaming/bus';
import {
  actorOf,
  encodeRegistrarResponse,
  parseRegistrarRequest,
  type RegisterResult,
  type RevokeResult,
} from '@sensor-streaming/control';
import { type Queryable, type RegistrationGate, registerSensors, revokeSensors } from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';

/**
 * sensors.register / sensors.revoke on REGISTRAR_RPC_QUEUE (`iotctl sensors provision | revoke`): one
 * statement per request (up to MAX_REGISTER_BATCH sensors). Always answers; a bad request is
 * `{ok:false, error:{code:'CONTROL_BAD_REQUEST', message}}` naming the field.
 */
export function createRegistrarHandler(opts: {
  db: Queryable;
  logger: Logger;
  /** This process's registration cache: forgets the serials it changes, so they take effect at once here. */
  gate?: RegistrationGate;
}): (req: Delivery) => Promise<Buffer> {
  const log = opts.logger;
  return async (req) => {
    try {
      const request = parseRegistrarRequest(req.body);
      // the broker-validated user who asked (the request's user_id), recorded as `by` of the events
      const by = actorOf(req);
      if (request.method === 'sensors.register') {
        const sensors = request.params.sensors.map((s) => ({
          serial: s.serial,
          kind: s.kind ?? '',
          labels: s.labels ?? {},
        }));
        const registered = await registerSensors(opts.db, sensors, by);
        for (const s of sensors) opts.gate?.forget(s.serial);
        log.info({ count: registered, by }, 'sensors provisioned');
        const result: RegisterResult = { registered };
        return encodeRegistrarResponse({ ok: true, result });
      }
      const revoked = await revokeSensors(opts.db, request.params.serials, by);
      for (const s of request.params.serials) opts.gate?.forget(s);
      log.info({ count: revoked.length, serials: revoked.slice(0, 20), by }, 'sensors revoked');
      const result: RevokeResult = { revoked };
      return encodeRegistrarResponse({ ok: true, result });
    } catch (err) {
      const e = err as { permanent?: unknown; code?: unknown; message?: unknown };
      if (e?.permanent === true && typeof e.code === 'string' && typeof e.message === 'string') {
        return encodeRegistrarResponse({ ok: false, error: { code: e.code, message: e.message } });
      }
      log.error({ err }, 'registration failed');
      return encodeRegistrarResponse({
        ok: false,
        error: {
          code: 'REGISTRY_INTERNAL',
          message: `the sensor registry could not register: ${err instanceof Error ? err.message : String(err)}`,
        },
      });
    }
  };
}
