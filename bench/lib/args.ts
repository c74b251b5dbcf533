// Command-line helpers shared by the bench scripts (options come from argv, never process.env).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** argv's `--options` (strict, no positionals); `--help` prints `help` and exits 0. */
export function flags<const T extends ParseArgsOptionsConfig>(options: T, help: string) {
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean' } }, strict: true });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(help);
    process.exit(0);
  }
  return values;
}

/** A whole number option within [min, max], or an error naming the option. */
export function intOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${value}")`);
  }
  return parsed;
}

export class UsageError extends Error {}

/** Runs `parse`; a usage problem prints the message and the help text, then exits 2. */
export function parseOrExit<T>(parse: () => T, help: string): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`${error.message}\n\n${help}`);
    process.exit(2);
  }
}

export const grouped = (value: number) => Math.round(value).toLocaleString('en-US');
