import { describe, expect, it } from 'vitest';
import * as api from './index.js';

describe('public API (docs/internal-api.md)', () => {
  it('exports every listed name', () => {
    const listed = [
      'EXCHANGE',
      'DEAD_LETTER_EXCHANGE',
      'DEAD_LETTER_QUEUE',
      'REJECTED_EXCHANGE',
      'releaseExchangeName',
      'CONTENT_TYPE_PROTOBUF',
      'CONTENT_TYPE_JSON',
      'SERIAL_PATTERN',
      'isValidSerial',
      'assertSerial',
      'routingKeys',
      'bindingPatterns',
      'commandQueueName',
      'commandBindingPattern',
      'shardExchangeName',
      'shardQueueName',
      'MAX_SHARDS',
      'parseRoutingKey',
      'sampleTimesUs',
      'measurementBatchCodec',
      'logBatchCodec',
      'sensorStateCodec',
      'commandCodec',
      'commandAckCodec',
      'alarmCodec',
      'ProtocolError',
    ];
    for (const name of listed) expect(api, name).toHaveProperty(name);
  });

  it('has the names of the design', () => {
    expect(api.EXCHANGE).toBe('sensor_streaming');
    expect(api.DEAD_LETTER_EXCHANGE).toBe('sensor_streaming.dlx');
    expect(api.DEAD_LETTER_QUEUE).toBe('sensor_streaming.dead');
    expect(api.REJECTED_EXCHANGE).toBe('sensor_streaming.rejected');
    expect(api.releaseExchangeName('measurements-ingester.shard-3')).toBe(
      'measurements-ingester.shard-3.release',
    );
    expect(api.CONTENT_TYPE_PROTOBUF).toBe('application/x-protobuf');
    expect(api.CONTENT_TYPE_JSON).toBe('application/json');
    expect(api.DEFAULT_MAX_BATCH_SIZE).toBe(100_000);
    expect(api.shardExchangeName('measurements-ingester')).toBe('measurements-ingester.shards');
    expect(api.shardQueueName('measurements-ingester', 3)).toBe('measurements-ingester.shard-3');
    expect(() => api.shardQueueName('q', api.MAX_SHARDS)).toThrow(/shard index/);
  });

  it('ProtocolError is a permanent error with a stable code, field and reason', () => {
    const err = new api.ProtocolError('entries[3].level', 'must be one of ...');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('PROTOCOL_INVALID');
    expect(err.permanent).toBe(true);
    expect(err.field).toBe('entries[3].level');
    expect(err.reason).toBe('must be one of ...');
    expect(err.message).toBe('entries[3].level: must be one of ...');
    expect(api.isProtocolError(err)).toBe(true);
    expect(api.isProtocolError(new Error('x'))).toBe(false);
  });

  it('rejects nonsensical decode options as a bug, not as bad input', () => {
    const body = new Uint8Array(0);
    expect(() => api.alarmCodec.decode(body, undefined, { maxBatchSize: 0 })).toThrow(RangeError);
    expect(() => api.alarmCodec.decode(body, undefined, { nowUs: Number.NaN })).toThrow(RangeError);
  });
});
