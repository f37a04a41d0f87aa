/**
 * An expected failure of the control path (bad selector, bad frequency, registry
 * unavailable, ...). `message` is meant for an operator; `code` is stable.
 * `permanent` tells the bus that retrying the same input cannot help.
 */
export class ControlError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}
