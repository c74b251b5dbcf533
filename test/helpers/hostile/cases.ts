// A call: input, credentials and transport. Everything one call of a procedure may be.
import fc from 'fast-check';
import type { ProcedureSpec } from './catalogue.ts';
import { BODY_LIMIT_BYTES } from './contract.ts';
import { RawJson } from './input-text.ts';
import type { Generation } from './inputs.ts';
import { deepArrayText } from './values.ts';
import type { World } from './world.ts';

export type AuthChoice =
  | { kind: 'valid' }
  | { kind: 'none' }
  | { kind: 'stale' }
  | { kind: 'tampered' }
  | { kind: 'refresh-as-access' }
  | { kind: 'header'; value: string };

export type Transport = { kind: 'normal' } | { kind: 'wrong-method' } | { kind: 'content-type'; value: string };

export interface HostileCase {
  input: unknown;
  auth: AuthChoice;
  transport: Transport;
  /** Sent as User-Agent (stored with a login's session); fetch's own when undefined. */
  userAgent: string | undefined;
}

/** Header text fetch can send: printable Latin-1 (no control characters). */
const headerText = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((code) => code < 0x7f || code > 0x9f)
    .map((code) => String.fromCharCode(code)),
  maxLength: 200,
});

const authChoices = (access: ProcedureSpec['access']): fc.Arbitrary<AuthChoice> => {
  const invalid: fc.Arbitrary<AuthChoice> = fc.oneof(
    fc.constant({ kind: 'stale' as const }),
    fc.constant({ kind: 'tampered' as const }),
    fc.constant({ kind: 'refresh-as-access' as const }),
    fc
      .tuple(fc.constantFrom('Bearer ', 'bearer ', 'Bearer', 'Basic ', 'Bearer  ', ''), headerText)
      .map(([scheme, rest]) => ({ kind: 'header' as const, value: `${scheme}${rest}` })),
  );
  const valid = fc.constant({ kind: 'valid' as const });
  const none = fc.constant({ kind: 'none' as const });
  return access === 'protected'
    ? fc.oneof({ weight: 6, arbitrary: valid }, { weight: 2, arbitrary: none }, { weight: 2, arbitrary: invalid })
    : fc.oneof({ weight: 2, arbitrary: valid }, { weight: 6, arbitrary: none }, { weight: 2, arbitrary: invalid });
};

const transports: fc.Arbitrary<Transport> = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: 'normal' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrong-method' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonp',
        'application/json-patch+json',
        'text/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json ; charset=UTF-8',
      )
      .map((value) => ({ kind: 'content-type' as const, value })),
  },
);

/** Everything one call of `spec` may be: input, credentials, transport. */
export function caseArbitrary(
  spec: ProcedureSpec,
  world: World,
  { avoidKnownBugs = false }: { avoidKnownBugs?: boolean } = {},
): fc.Arbitrary<HostileCase> {
  // A GET carries its input in the URL, so queries get shorter long strings (see fitQuery in calls.ts too).
  const gen: Generation = { maxLength: spec.kind === 'query' ? 3000 : 100_000, avoidKnownBugs };
  const input =
    spec.kind === 'mutation'
      ? fc.oneof(
          { weight: 60, arbitrary: spec.input(world, gen) },
          // Over the body limit: must be 413, whatever the procedure.
          {
            weight: 1,
            arbitrary: fc
              .integer({ min: BODY_LIMIT_BYTES, max: BODY_LIMIT_BYTES + 1000 })
              .map((length) => new RawJson(JSON.stringify({ pad: 'x'.repeat(length) }))),
          },
          // Deeper than any recursive walker should go; fits the body limit as a POST.
          { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map(deepArrayText) },
        )
      : spec.input(world, gen);
  const userAgent = fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerText },
    // Longer than a session keeps (512), within Node's 16 KiB for a request head with a long URL.
    { weight: 1, arbitrary: fc.integer({ min: 400, max: 2000 }).map((length) => 'Ü'.repeat(length)) },
  );
  return fc.record({ input, auth: authChoices(spec.access), transport: transports, userAgent });
}
