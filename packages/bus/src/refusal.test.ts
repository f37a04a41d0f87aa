import { describe, expect, it } from 'vitest';
import { refusalOf } from './errors.js';

const closed = (code: number, text: string): Error =>
  Object.assign(new Error(`Channel closed by server: ${code} (X) with message "${text}"`), { code });

describe('refusalOf (which publishes a channel closed by the broker refused)', () => {
  it('reads a topic refusal as one routing key on one exchange', () => {
    expect(
      refusalOf(
        closed(
          403,
          "ACCESS_REFUSED - write access to topic 'sensor.b.commands.sleep' in exchange 'sensor_streaming' in vhost 'v' refused for user 'op.viewer'",
        ),
      ),
    ).toMatchObject({ kind: 'topic', exchange: 'sensor_streaming', routingKey: 'sensor.b.commands.sleep' });
  });

  it('reads an exchange refusal (the default exchange as "")', () => {
    expect(
      refusalOf(
        closed(403, "ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'v' refused for user 'x'"),
      ),
    ).toMatchObject({ kind: 'exchange', exchange: '' });
  });

  it('reads a user_id mismatch as a refusal of every stamped publish', () => {
    expect(
      refusalOf(
        closed(
          406,
          "PRECONDITION_FAILED - user_id property set to 'op.operator' but authenticated user was 'guest'",
        ),
      ),
    ).toMatchObject({ kind: 'user_id', replyCode: 406 });
  });

  it('is undefined for anything else (the channel is reopened and publishes re-sent)', () => {
    expect(refusalOf(closed(406, 'PRECONDITION_FAILED - inequivalent arg'))).toBeUndefined();
    expect(
      refusalOf(closed(403, "ACCESS_REFUSED - access to queue 'q' in vhost 'v' refused")),
    ).toBeUndefined();
    expect(refusalOf(new Error('Connection closed'))).toBeUndefined();
    expect(refusalOf(undefined)).toBeUndefined();
  });
});
