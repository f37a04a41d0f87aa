import { readFileSync } from 'node:fs';
import { createBus } from '@sensor-streaming/bus';
import { createTestVhost } from '@sensor-streaming/bus/testing';
import { createRegistrarClient, type SensorRegistration } from '@sensor-streaming/control';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { loadConfig } from '../config.js';
import { createSensorRegistry } from '../sensor-registry.js';

/*
 * The registry's half of `iotctl sensors provision --from devices.csv`: SENSORS registrations (kind and two
 * labels each) through the registrar RPC, in the client's requests of MAX_REGISTER_BATCH, ROUNDS times
 * (each round re-provisions the same fleet: the upsert path). Own vhost and database.
 *
 *   node --conditions=source --import tsx services/sensor-registry/src/bench/register-fleet.ts [SENSORS] [ROUNDS]
 */
const sensors = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 3);
const logger = createLogger({ service: 'register-fleet-bench', level: 'warn' });
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const [vhost, db] = await Promise.all([
  createTestVhost('register-fleet'),
  createTestDatabase({ prefix: 'regfleet' }),
]);
const registry = createSensorRegistry({
  config: loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    METRICS_PORT: '0',
    REGISTRATION: 'closed',
  }),
  logger,
  registry: new Registry(),
});
const bus = createBus({ url: vhost.url, connectionName: 'register-fleet-bench', logger });
try {
  await registry.start();
  await bus.start();
  const fleet: SensorRegistration[] = Array.from({ length: sensors }, (_, i) => ({
    serial: `fleet-${i}`,
    kind: 'vibration',
    labels: { site: `site-${i % 10}`, line: `l${i % 7}` },
  }));
  const client = createRegistrarClient(bus, { timeoutMs: 60_000 });
  const seconds: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const t0 = performance.now();
    const { registered } = await client.register(fleet);
    const s = (performance.now() - t0) / 1000;
    seconds.push(s);
    console.log(`round ${r}: ${registered} sensors registered in ${s.toFixed(2)} s (load ${load()})`);
  }
  const { rows } = await db.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM sensors WHERE provisioned_at IS NOT NULL AND revoked_at IS NULL',
  );
  const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)] as number;
  console.log(
    `register-fleet: ${sensors} sensors, median ${median.toFixed(2)} s (${Math.round(sensors / median)}/s) over ${rounds} rounds, ${rows[0]?.n} provisioned rows; load ${load()}`,
  );
} finally {
  await bus.stop();
  await registry.stop();
  await Promise.all([db.drop(), vhost.drop()]);
}
