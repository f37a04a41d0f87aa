// Provisioning rate: N devices (default 10,000) on a throwaway RabbitMQ node through the
// same path as `iotctl sensors provision --from`, then a sample of them connecting over MQTT.
// Run: node --conditions=source --import tsx packages/identity/bench/provision-fleet.ts [N]
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { createBrokerAdmin } from '../src/broker-admin.js';
import { startThrowawayBroker } from '../src/security/throwaway-broker.js';

const n = Number(process.argv[2] ?? 10_000);
const broker = await startThrowawayBroker();
try {
  const admin = createBrokerAdmin({ managementUrl: broker.managementUrl, vhost: '/' });
  const devices = Array.from({ length: n }, (_, i) => ({ serial: `fleet-${i}` }));
  const t0 = performance.now();
  const creds = await admin.provision(devices, (done, total) => {
    if (done % 2000 === 0 || done === total) process.stderr.write(`provisioned ${done}/${total}\n`);
  });
  const s = (performance.now() - t0) / 1000;
  let ok = 0;
  const t1 = performance.now();
  for (const c of creds.filter((_, i) => i % Math.max(1, Math.floor(n / 100)) === 0)) {
    const client = await mqtt.connectAsync(broker.mqttUrl, {
      username: c.mqttUsername,
      password: c.secret,
      clientId: c.serial,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    ok++;
    await client.endAsync();
  }
  const cs = (performance.now() - t1) / 1000;
  const mem = await fetch(`${broker.managementUrl.replace(/\/\/.*@/, '//')}/api/nodes`, {
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  }).then((r) => r.json() as Promise<Array<{ mem_used: number }>>);
  process.stdout.write(
    `provision: ${n} devices in ${s.toFixed(1)} s (${Math.round(n / s)}/s); ${ok} sampled devices connected over MQTT at ${(ok / cs).toFixed(0)}/s (sequential); broker memory ${(mem[0]!.mem_used / 2 ** 20).toFixed(0)} MiB\n`,
  );
} finally {
  await broker.destroy();
}
