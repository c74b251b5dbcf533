// How an input travels: as a JSON value, as raw JSON text, or not at all; and how the text that was
// sent is read back.
import fc from 'fast-check';

/** Shortens long texts for reports and fast-check's counterexamples. */
export const abbreviate = (text: string, max = 400) =>
  text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;

/** JSON text sent exactly as written (duplicate keys, number tokens JSON.stringify cannot make, bad JSON). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  [fc.toStringMethod]() {
    return `RawJson(${JSON.stringify(abbreviate(this.text, 200))})`;
  }
}

/** No input at all: a GET without `?input`, a POST without a body. */
export const NO_INPUT = Object.freeze({ [fc.toStringMethod]: () => 'NO_INPUT' });

/** The JSON text an input is sent as; undefined for none. */
export function inputText(input: unknown): string | undefined {
  if (input === NO_INPUT) return undefined;
  if (input instanceof RawJson) return input.text;
  // JSON.stringify says string, but gives undefined for undefined, functions and symbols.
  const text: string | undefined = JSON.stringify(input);
  return text;
}

/** An own, enumerable property, even for names such as `__proto__` that assignment would not create. */
export function withOwn(target: object, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...target };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** The value an input was sent as: undefined for none, and for text that is not JSON. */
export const parsed = (input: unknown): unknown => {
  const text = inputText(input);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
/** One own field of an input that was sent as an object. */
export const fieldOf = (input: unknown, name: string): unknown => {
  const value = parsed(input);
  return value && typeof value === 'object' && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
};
