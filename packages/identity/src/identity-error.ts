export type IdentityErrorCode =
  | 'IDENTITY_BAD_INPUT'
  | 'IDENTITY_ALREADY_PROVISIONED'
  | 'IDENTITY_NOT_PROVISIONED'
  | 'IDENTITY_BROKER_REFUSED'
  | 'IDENTITY_BROKER_UNREACHABLE';

/** An expected failure of provisioning, with a message an operator can act on. */
export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string) {
    super(message);
    this.name = 'IdentityError';
    this.code = code;
  }
}

export function isIdentityError(err: unknown): err is IdentityError {
  return err instanceof IdentityError;
}
