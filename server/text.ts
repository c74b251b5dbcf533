/**
 * Text PostgreSQL can store exactly as given: no NUL (which text columns refuse) and no lone UTF-16
 * surrogates (which UTF-8 cannot encode, so they would come back as U+FFFD). bcrypt also stops
 * reading a password at a NUL, so a NUL would silently shorten it.
 */
export function isStorableText(value: string): boolean {
  return value.isWellFormed() && !value.includes('\u0000');
}

export const STORABLE_TEXT_ERROR = 'must be valid Unicode text without NUL characters';
