import { z } from 'zod';

/**
 * Text PostgreSQL can store exactly as given: no NUL (which text columns refuse) and no lone UTF-16
 * surrogates (which UTF-8 cannot encode, so they would come back as U+FFFD). bcrypt also stops
 * reading a password at a NUL, so a NUL would silently shorten it.
 */
export function isStorableText(value: string): boolean {
  return value.isWellFormed() && !value.includes('\u0000');
}

export const STORABLE_TEXT_ERROR = 'must be valid Unicode text without NUL characters';

/**
 * What people write (post bodies, display names, bios): storable, trimmed, and `min`–`max`
 * characters counted as Unicode code points, so an emoji counts as one, as a person would count it
 * (and as PostgreSQL counts a varchar's length).
 */
export function userText({ min, max }: { min: number; max: number }) {
  return z
    .string()
    .refine(isStorableText, { error: STORABLE_TEXT_ERROR })
    .transform((value) => value.trim())
    .refine((value) => min === 0 || value.length > 0, { error: 'must not be empty' })
    .refine((value) => min <= 1 || [...value].length >= min, { error: `must be at least ${min} characters` })
    .refine((value) => [...value].length <= max, { error: `must be at most ${max} characters` });
}
