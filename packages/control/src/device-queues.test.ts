import { describe, expect, it } from 'vitest';
import { deviceCommandQueues, deviceOfCommandQueue, mqttSessionQueueName } from './device-queues.js';

describe('device command queues', () => {
  it('names the AMQP command queue and the MQTT session queue of a serial', () => {
    expect(deviceCommandQueues('pump-7')).toEqual(['sensor.pump-7.commands', 'mqtt-subscription-pump-7qos1']);
    expect(mqttSessionQueueName('a_b')).toBe('mqtt-subscription-a_bqos1');
    expect(() => mqttSessionQueueName('a.b')).toThrow(/serial/);
  });

  it('maps either queue back to its serial and nothing else', () => {
    expect(deviceOfCommandQueue('sensor.pump-7.commands')).toBe('pump-7');
    expect(deviceOfCommandQueue('mqtt-subscription-pump-7qos1')).toBe('pump-7');
    expect(deviceOfCommandQueue('mqtt-subscription-pump-7qos0')).toBeUndefined();
    expect(deviceOfCommandQueue('sensor-registry')).toBeUndefined();
    expect(deviceOfCommandQueue('sensor.a.b.commands')).toBeUndefined();
  });
});
