import type { Delivery } from '@sensor-streaming/bus';
import { describe, expect, it } from 'vitest';
import { death, expiredInSensorQueue } from './expired-commands.js';

const delivery = (headers: Record<string, unknown>): Delivery => ({
  body: Buffer.alloc(0),
  routingKey: 'sensor.s-1.commands.sleep',
  contentType: undefined,
  headers,
  redelivered: false,
  deliveryCount: 1,
  exchange: 'sensor_streaming.dlx',
  queue: 'sensor-registry.expired-commands',
});

const xDeath = (reason: string, queue: string) => ({
  'x-death': [
    { reason, queue, count: 1, exchange: 'sensor_streaming', 'routing-keys': ['sensor.s-1.commands.sleep'] },
  ],
});

describe('expiredInSensorQueue', () => {
  it('accepts a command the broker expired in a sensor command queue', () => {
    expect(expiredInSensorQueue(delivery(xDeath('expired', 'sensor.s-1.commands')))).toBe(true);
    expect(death(delivery(xDeath('expired', 'sensor.s-1.commands')))).toEqual({
      reason: 'expired',
      queue: 'sensor.s-1.commands',
    });
  });

  it("accepts a command the broker expired in an MQTT device's session queue", () => {
    expect(expiredInSensorQueue(delivery(xDeath('expired', 'mqtt-subscription-s-1qos1')))).toBe(true);
  });

  it('ignores rejections, expiries elsewhere and messages a consumer dead-lettered itself', () => {
    expect(expiredInSensorQueue(delivery(xDeath('rejected', 'sensor.s-1.commands')))).toBe(false);
    expect(expiredInSensorQueue(delivery(xDeath('expired', 'sensor-registry')))).toBe(false);
    expect(
      expiredInSensorQueue(
        delivery({
          ...xDeath('expired', 'sensor.s-1.commands'),
          'x-sensor-streaming-reason': 'PROTOCOL_INVALID',
        }),
      ),
    ).toBe(false);
    expect(expiredInSensorQueue(delivery({}))).toBe(false);
    expect(death(delivery({ 'x-death': 'nonsense' }))).toBeUndefined();
  });
});
