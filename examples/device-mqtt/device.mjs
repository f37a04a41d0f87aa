// The smallest real sensor-streaming device, for firmware engineers to read first.
// It speaks MQTT 3.1.1 and protobuf only (the `mqtt` and `protobufjs` packages):
//   connect with its own credential, persistent session, last will = OFFLINE state
//   subscribe  sensor/<serial>/commands/#                 QoS 1
//   publish    sensor/<serial>/{data,logs,state,acks}     QoS 1
//   obey sleep / awake / changesamplefrequency, each command id once, and ack it.
// Environment: MQTT_URL, DEVICE_SERIAL, DEVICE_USERNAME (`<vhost>:<serial>` on RabbitMQ), DEVICE_SECRET;
// with mqtts://, TLS_CA_FILE (the platform CA the broker's certificate must chain to), and optionally
// TLS_CERT_FILE + TLS_KEY_FILE (a client certificate).
// Logs one JSON object per line on stdout.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import protobuf from 'protobufjs';

const env = process.env;
const serial = env.DEVICE_SERIAL;
const url = env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
if (!serial || !/^[A-Za-z0-9_-]{1,64}$/.test(serial))
  throw new Error('DEVICE_SERIAL: give a serial, [A-Za-z0-9_-]{1,64}');
if (!env.DEVICE_SECRET) throw new Error('DEVICE_SECRET: give the secret `iotctl sensors provision` printed');

// TLS: the broker's certificate is always verified (mqtt.js's default, never turned off here); a firmware
// build pins the same CA. Each file is read now, so a wrong path is one clear line at start.
const pem = (name) => {
  if (!env[name]) return undefined;
  try {
    return readFileSync(env[name]);
  } catch (err) {
    throw new Error(`${name}: cannot read ${JSON.stringify(env[name])}: ${err.code ?? err.message}`);
  }
};
const tls = { ca: pem('TLS_CA_FILE'), cert: pem('TLS_CERT_FILE'), key: pem('TLS_KEY_FILE') };
if ((tls.cert === undefined) !== (tls.key === undefined))
  throw new Error('TLS_CERT_FILE and TLS_KEY_FILE: a client certificate needs both');
if ((tls.ca || tls.cert) && !/^(mqtts|wss):/.test(url))
  throw new Error(`MQTT_URL: TLS_* files are set but ${url.split(':')[0]}:// does not use TLS (mqtts://)`);
for (const k of Object.keys(tls)) if (tls[k] === undefined) delete tls[k];

const log = (event, fields = {}) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), event, serial, ...fields }));

// The wire contract: the platform's sensor.proto (nanopb options for C firmware beside it, see NANOPB.md).
const protoPath =
  env.PROTO_PATH ?? fileURLToPath(new URL('../../packages/protocol/proto/sensor.proto', import.meta.url));
const root = await protobuf.load(protoPath);
const T = (name) => root.lookupType(`sensor_streaming.v1.${name}`);
const [MeasurementBatch, LogBatch, SensorState, Command, CommandAck] = [
  'MeasurementBatch',
  'LogBatch',
  'SensorState',
  'Command',
  'CommandAck',
].map(T);
const encode = (type, fields) => Buffer.from(type.encode(type.fromObject(fields)).finish());
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const topic = (kind) => `sensor/${serial}/${kind}`;

// What the device is.
const MIN_HZ = 0.1;
const MAX_HZ = 100;
let awake = true;
let hz = 1;
let sequence = 0;
const bootMs = Date.now();
const applied = new Map(); // command id -> ack fields: a redelivered command is answered, not applied twice

const state = (reason, power = awake ? 'SENSOR_POWER_STATE_AWAKE' : 'SENSOR_POWER_STATE_ASLEEP') =>
  encode(SensorState, {
    serial,
    kind: 'environment',
    channels: ['temperature'],
    firmware: 'example-1.0.0',
    state: power,
    sampleFrequencyHz: hz,
    uptimeS: Math.floor((Date.now() - bootMs) / 1000),
    reason,
    timeNs: nowNs().toString(),
    minFrequencyHz: MIN_HZ,
    maxFrequencyHz: MAX_HZ,
  });

const client = mqtt.connect(url, {
  clientId: serial, // the broker keeps the persistent session under it; the credential only allows this one
  username: env.DEVICE_USERNAME ?? serial,
  password: env.DEVICE_SECRET,
  protocolVersion: 4,
  clean: false, // persistent session: commands sent while the device is away wait (until their TTL)
  keepalive: 30,
  reconnectPeriod: 2000,
  will: {
    topic: topic('state'),
    payload: state('STATE_REASON_WILL', 'SENSOR_POWER_STATE_OFFLINE'),
    qos: 1,
    retain: false,
  },
  ...tls,
});
const publish = (kind, body) => client.publishAsync(topic(kind), body, { qos: 1 });

client.on('error', (err) => log('mqtt_error', { message: err.message }));
client.on('connect', async (connack) => {
  try {
    if (!connack.sessionPresent) await client.subscribeAsync(topic('commands/#'), { qos: 1 });
    await publish('state', state('STATE_REASON_BIRTH'));
    log('ready', { sessionPresent: connack.sessionPresent });
  } catch (err) {
    log('start_failed', { message: err.message });
  }
});

// Commands: apply each id once, answer every delivery with its ack, then report the new state.
client.on('message', async (_topic, payload) => {
  let cmd;
  try {
    cmd = Command.toObject(Command.decode(payload), { enums: String, longs: String });
  } catch (err) {
    return log('bad_command', { message: err.message }); // PUBACKed anyway: a bad message is never retried
  }
  let ack = applied.get(cmd.commandId);
  if (ack === undefined) {
    ack = { status: 'ACK_STATUS_APPLIED', reason: '' };
    if (cmd.type === 'COMMAND_TYPE_SLEEP') awake = false;
    else if (cmd.type === 'COMMAND_TYPE_AWAKE') awake = true;
    else if (cmd.type === 'COMMAND_TYPE_CHANGE_SAMPLE_FREQUENCY') {
      const f = cmd.sampleFrequencyHz ?? 0;
      if (f >= MIN_HZ && f <= MAX_HZ) hz = f;
      else ack = { status: 'ACK_STATUS_REJECTED', reason: `${f} Hz is outside ${MIN_HZ}..${MAX_HZ} Hz` };
    } else ack = { status: 'ACK_STATUS_REJECTED', reason: `unknown command type ${cmd.type}` };
    applied.set(cmd.commandId, ack);
    if (applied.size > 1000) applied.delete(applied.keys().next().value);
  }
  await publish(
    'acks',
    encode(CommandAck, {
      commandId: cmd.commandId,
      serial,
      ...ack,
      state: awake ? 'SENSOR_POWER_STATE_AWAKE' : 'SENSOR_POWER_STATE_ASLEEP',
      sampleFrequencyHz: hz,
      timeNs: nowNs().toString(),
      type: cmd.type,
    }),
  );
  await publish('state', state('STATE_REASON_CHANGE'));
  log('command', { commandId: cmd.commandId, type: cmd.type, status: ack.status });
});

// Sampling: one MeasurementBatch per second with `hz` samples; a log line and a heartbeat every 10 s.
let ticks = 0;
const timer = setInterval(async () => {
  if (!client.connected) return; // a real device would buffer; this one skips
  ticks++;
  try {
    if (awake) {
      const n = Math.max(1, Math.round(hz));
      const periodNs = BigInt(Math.round(1e9 / hz));
      const first = nowNs() - periodNs * BigInt(n - 1);
      const values = Array.from({ length: n }, (_, i) => 21 + Math.sin((ticks * n + i) / 20));
      await publish(
        'data',
        encode(MeasurementBatch, {
          serial,
          channel: 'temperature',
          unit: 'degC',
          sequence: ++sequence,
          firstSampleTimeNs: first.toString(),
          samplePeriodNs: periodNs.toString(),
          values,
        }),
      );
    }
    if (ticks % 10 === 0) {
      await publish(
        'logs',
        encode(LogBatch, {
          serial,
          sequence: ticks / 10,
          entries: [
            {
              timeNs: nowNs().toString(),
              level: 'LOG_LEVEL_INFO',
              appVersion: '1.0.0',
              firmwareVersion: 'example-1.0.0',
              message: 'alive',
            },
          ],
        }),
      );
      await publish('state', state('STATE_REASON_HEARTBEAT'));
    }
  } catch (err) {
    log('publish_failed', { message: err.message });
  }
}, 1000);

// SIGTERM/SIGINT: say OFFLINE ourselves (a clean DISCONNECT does not fire the will), then leave.
const stop = async () => {
  clearInterval(timer);
  await publish('state', state('STATE_REASON_WILL', 'SENSOR_POWER_STATE_OFFLINE')).catch(() => {});
  await client.endAsync();
  log('stopped');
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
