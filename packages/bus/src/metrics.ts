import { Counter, Gauge, type Registry } from 'prom-client';

export type ConnectionRole = 'publish' | 'consume';
export type DeadLetterCause = 'permanent' | 'delivery_limit' | 'rejected';

export interface BusMetrics {
  connected: Gauge<'connection'>;
  blocked: Gauge<'connection'>;
  reconnects: Counter<'connection'>;
  publishes: Counter;
  confirms: Counter;
  nacks: Counter;
  returns: Counter;
  resends: Counter;
  publishFailures: Counter<'reason'>;
  consumed: Counter<'queue'>;
  acked: Counter<'queue'>;
  requeued: Counter<'queue'>;
  released: Counter<'queue'>;
  deadLettered: Counter<'queue' | 'cause'>;
  subscribedQueues: Gauge;
}

/**
 * The bus metrics, registered on `registry`. Labels are bounded: connection role, queue name (per-sensor
 * command queues collapsed, see queueMetricLabel), cause. A metric already registered under the same name
 * (a second bus on the same registry) is reused rather than registered twice.
 */
export function createBusMetrics(registry: Registry): BusMetrics {
  function counter<L extends string = never>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [registry] });
  }
  function gauge<L extends string = never>(name: string, help: string, labelNames: L[] = []): Gauge<L> {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge<L>({ name, help, labelNames, registers: [registry] });
  }
  return {
    connected: gauge(
      'sensor_streaming_bus_connection_up',
      '1 while the broker connection (publish or consume) is open',
      ['connection'],
    ),
    blocked: gauge(
      'sensor_streaming_bus_connection_blocked',
      '1 while the broker blocks the connection (connection.blocked: memory or disk alarm)',
      ['connection'],
    ),
    reconnects: counter(
      'sensor_streaming_bus_reconnects_total',
      'Broker connections re-established after a loss',
      ['connection'],
    ),
    publishes: counter(
      'sensor_streaming_bus_published_total',
      'Messages handed to the broker (including re-sends)',
    ),
    confirms: counter(
      'sensor_streaming_bus_publish_confirms_total',
      'Publishes confirmed (acked) by the broker',
    ),
    nacks: counter('sensor_streaming_bus_publish_nacks_total', 'Publishes refused (nacked) by the broker'),
    returns: counter(
      'sensor_streaming_bus_publish_returns_total',
      'Mandatory publishes returned as unroutable',
    ),
    resends: counter(
      'sensor_streaming_bus_publish_resends_total',
      'Unconfirmed publishes re-sent after a channel or connection loss',
    ),
    publishFailures: counter(
      'sensor_streaming_bus_confirm_failures_total',
      'Publishes rejected to the caller, by reason',
      ['reason'],
    ),
    consumed: counter('sensor_streaming_bus_messages_consumed_total', 'Messages delivered to a handler', [
      'queue',
    ]),
    acked: counter(
      'sensor_streaming_bus_messages_acked_total',
      'Messages acknowledged after their handler succeeded',
      ['queue'],
    ),
    requeued: counter(
      'sensor_streaming_bus_messages_requeued_total',
      'Messages returned to the queue after a transient error',
      ['queue'],
    ),
    released: counter(
      'sensor_streaming_bus_messages_released_total',
      'Messages given back to their queue as fresh copies (delivery count reset) because a dependency was unavailable',
      ['queue'],
    ),
    deadLettered: counter(
      'sensor_streaming_bus_dead_lettered_total',
      'Messages dead-lettered by the bus, by cause',
      ['queue', 'cause'],
    ),
    subscribedQueues: gauge(
      'sensor_streaming_bus_multi_consumer_queues',
      'Queues that multi-queue consumers have a broker consumer on right now (drops on a connection loss, back after the re-subscribe)',
    ),
  };
}
