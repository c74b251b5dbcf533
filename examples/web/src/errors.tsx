// Turning API errors into sentences a person can act on.
import { isWarbleError } from '@warble/client';
import { API_URL } from './api.ts';

export function describeError(error: unknown): string {
  if (!isWarbleError(error)) return error instanceof Error ? error.message : String(error);
  const data = error.data;
  // No error body at all: the request never got an answer (API down, or refused by CORS).
  if (!data) {
    return `Cannot reach the Warble API at ${API_URL} (${error.message}): is it running, and does its CORS_ORIGINS list ${window.location.origin}?`;
  }
  switch (data.code) {
    case 'TOO_MANY_REQUESTS':
      return data.retryAfter
        ? `Too many requests, try again in ${data.retryAfter} s.`
        : 'Too many requests, try again later.';
    case 'BAD_REQUEST': {
      // Validation failures name the field: "password: Too small: expected string to have >=8 characters".
      const fields = Object.entries(data.zodError?.fieldErrors ?? {});
      const [field, issues] = fields[0] ?? [];
      return field && issues?.[0] ? `${field}: ${issues[0]}` : error.message;
    }
    default:
      return error.message;
  }
}

/** An error under a form or a list; `role="alert"` so screen readers (and tests) notice it. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {describeError(error)}
    </p>
  );
}
