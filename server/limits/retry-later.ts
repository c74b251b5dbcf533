// The one error type every limit throws. The procedure layer answers it with its code
// (TOO_MANY_REQUESTS: this client used its allowance; SERVICE_UNAVAILABLE: the server sheds load),
// the HTTP layer adds `Retry-After` (RFC 9110 §10.2.3), and the error formatter puts the same
// seconds into `error.data.retryAfter`, which also reaches clients of streamed (jsonl) answers,
// whose headers were sent before the error happened.
export type RetryLaterCode = 'TOO_MANY_REQUESTS' | 'SERVICE_UNAVAILABLE';

export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  readonly code: RetryLaterCode;
  readonly retryAfterSeconds: number;
  constructor(code: RetryLaterCode, message: string, retryAfterMs: number) {
    super(message);
    this.code = code;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

/** The caller went away before its work started; nobody will read the answer. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor() {
    super('the client disconnected');
  }
}

/** The Retry-After seconds an error carries (through its causes), or 0. */
export function retryAfterOf(error: unknown): number {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    if (current instanceof RetryLaterError) return current.retryAfterSeconds;
    current = (current as { cause?: unknown }).cause;
  }
  return 0;
}
