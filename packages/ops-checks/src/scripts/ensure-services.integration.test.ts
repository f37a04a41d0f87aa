import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../repo-root.js';
import {
  canRunThrowawayRabbit,
  makeThrowawayRabbit,
  mqttConnack,
  portAnswers,
  type ThrowawayRabbit,
} from './throwaway-rabbit.js';

// scripts/ensure-services.sh against a second RabbitMQ node in the state a new
// machine's broker is delivered in (running, no plugins, the MQTT plugin's
// default port 1883 owned by another program): it must end with MQTT and
// Prometheus running, without a human, once and idempotently, also when two
// clones run it at the same moment. Proven on RabbitMQ 3.10 (the machine's).

const script = path.join(repoRoot(), 'scripts', 'ensure-services.sh');

interface RunResult {
  code: number | null;
  output: string;
}

function ensureServices(env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, 'rabbitmq'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

const restarts = (output: string) =>
  output.split('\n').filter((l) => l.includes('restarting RabbitMQ')).length;

async function pluginStates(rabbit: ThrowawayRabbit): Promise<string> {
  return rabbit.plugins('list', 'rabbitmq_');
}

async function prometheusStatus(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  await res.arrayBuffer();
  return res.status;
}

describe.runIf(canRunThrowawayRabbit())('ensure-services.sh on a broker as delivered', () => {
  let rabbit: ThrowawayRabbit;
  let squatter: net.Server | undefined;

  beforeAll(async () => {
    // Mosquitto holds 1883 on these machines; where nothing does, we do.
    if (!(await portAnswers(1883))) {
      squatter = net.createServer((s) => s.destroy());
      await new Promise<void>((resolve) => squatter?.listen(1883, '127.0.0.1', resolve));
    }
    rabbit = await makeThrowawayRabbit();
    await rabbit.start();
  }, 120_000);

  afterAll(async () => {
    await rabbit?.destroy();
    squatter?.close();
  }, 120_000);

  it('given no plugins, two concurrent runs bring MQTT and Prometheus up with one restart', async () => {
    expect(await pluginStates(rabbit)).not.toMatch(/\[E\*\] rabbitmq_mqtt/);
    expect(await portAnswers(rabbit.ports.mqtt)).toBe(false);

    const [a, b] = await Promise.all([ensureServices(rabbit.env), ensureServices(rabbit.env)]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    expect(restarts(a.output) + restarts(b.output), a.output + b.output).toBe(1);
    for (const r of [a, b]) {
      expect(r.output).toContain(`services ready: RabbitMQ amqp://guest:***@127.0.0.1:${rabbit.ports.amqp}`);
      expect(r.output).toContain(`MQTT mqtt://127.0.0.1:${rabbit.ports.mqtt}`);
      expect(r.output).not.toMatch(/warning: nothing answers|error:/);
    }

    expect(await mqttConnack(rabbit.ports.mqtt, 'guest', 'guest')).toBe(0);
    expect(await prometheusStatus(rabbit.ports.prometheus)).toBe(200);
    // the restart raised the node's open-files limit from su's 1024 towards the hard limit it inherits
    // (RabbitMQ reports the limit less its reserve: 927 at 1024)
    const hard = Number(execFileSync('sh', ['-c', 'ulimit -H -n'], { encoding: 'utf8' }).trim());
    const status = JSON.parse(await rabbit.ctl('status', '--formatter', 'json')) as {
      file_descriptors: { total_limit: number };
    };
    const limit = status.file_descriptors.total_limit;
    if (hard >= 2048) expect(limit, `hard limit ${hard}`).toBeGreaterThan(1024);
    const states = await pluginStates(rabbit);
    for (const p of [
      'rabbitmq_management',
      'rabbitmq_mqtt',
      'rabbitmq_prometheus',
      'rabbitmq_consistent_hash_exchange',
    ]) {
      expect(states).toMatch(new RegExp(`\\[E\\*\\] ${p}\\s`));
    }
  }, 240_000);

  it('given only the consistent-hash exchange disabled, one run enables it without a restart', async () => {
    await rabbit.plugins('-q', 'disable', 'rabbitmq_consistent_hash_exchange');
    expect(await pluginStates(rabbit)).not.toMatch(/\[E\*\] rabbitmq_consistent_hash_exchange/);
    const r = await ensureServices(rabbit.env);
    expect(r.code, r.output).toBe(0);
    expect(restarts(r.output)).toBe(0);
    expect(await pluginStates(rabbit)).toMatch(/\[E\*\] rabbitmq_consistent_hash_exchange/);
  }, 120_000);

  it('given a working broker, a second run changes nothing and restarts nothing', async () => {
    const again = await ensureServices(rabbit.env);
    expect(again.code, again.output).toBe(0);
    expect(restarts(again.output)).toBe(0);
    expect(again.output).toContain(`MQTT :${rabbit.ports.mqtt}`);
  }, 60_000);

  it('given MQTT enabled but stopped by a failed online enable ([E ]), one run repairs it', async () => {
    // The state a machine was left in before: listener snippet missing when
    // the plugin was enabled on the running node, so it tried 1883 and failed.
    rmSync(path.join(rabbit.confD, '90-sensor-streaming.conf'));
    await rabbit.plugins('-q', 'disable', '--offline', 'rabbitmq_mqtt');
    await rabbit.ctl('-q', 'shutdown');
    await rabbit.start();
    await expect(rabbit.plugins('-q', 'enable', 'rabbitmq_mqtt')).rejects.toThrow(/eaddrinuse|1883/);
    expect(await pluginStates(rabbit)).toMatch(/\[E \] rabbitmq_mqtt/);

    const repaired = await ensureServices(rabbit.env);
    expect(repaired.code, repaired.output).toBe(0);
    expect(restarts(repaired.output)).toBe(1);
    expect(await mqttConnack(rabbit.ports.mqtt, 'guest', 'guest')).toBe(0);
    expect(await pluginStates(rabbit)).toMatch(/\[E\*\] rabbitmq_mqtt/);
  }, 240_000);

  it('given MQTT_URL and the broker config disagree on the port, it fails with one line naming both', async () => {
    const wrong = { ...rabbit.env, MQTT_URL: `mqtt://127.0.0.1:${rabbit.ports.mqtt + 1}` };
    const r = await ensureServices(wrong);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      new RegExp(`MQTT listener to port ${rabbit.ports.mqtt} but MQTT_URL says ${rabbit.ports.mqtt + 1}`),
    );
    expect(restarts(r.output)).toBe(0);
  }, 60_000);
});
