/**
 * Recorded as the author (issued_by, acknowledged_by) of a message that carries no broker-validated
 * user_id: a publisher that set none (raw AMQP, `userId: false`). Not a name any broker user of ours has
 * (no parentheses), so it cannot be mistaken for one; never replaced by what the message body says.
 */
export const UNAUTHENTICATED_ACTOR = '(unauthenticated)';

/** The author to record for a delivery: its broker-validated user_id, or UNAUTHENTICATED_ACTOR. */
export function actorOf(d: { userId?: string }): string {
  return d.userId === undefined || d.userId === '' ? UNAUTHENTICATED_ACTOR : d.userId;
}
