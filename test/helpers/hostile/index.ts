// Hostile-input testing: a catalogue of every procedure of the router, fast-check arbitraries for
// inputs shaped like each procedure's schema (and everything around it), a caller that sends them
// over plain HTTP as any client would, and the checks every answer must pass. Shared by
// test/hostile-input.test.ts (a bounded run inside `npm test`) and scripts/fuzz.ts (`npm run fuzz`),
// so nothing in this folder may import vitest.
//
//   catalogue.ts   every procedure: access, errors, input arbitraries, what a success must be
//   accounts.ts    the same for the account procedures (password change, account deletion, profile, restore)
//   contract.ts    the contract's errors, and the limits the server is run with
//   values.ts      generic hostile values (strings, numbers, prototype keys, deep nesting)
//   fields.ts      plausible field values, right and nearly right
//   cursors.ts     real, damaged and forged cursors
//   inputs.ts      a procedure's whole input, shaped like its schema or not at all
//   cases.ts       one call: input, credentials, transport
//   input-text.ts  how an input is carried (RawJson, NO_INPUT) and read back
//   outputs.ts     what a success must look like
//   world.ts       users, posts, tokens and cursors prepared before a run
//   calls.ts       sending a case over HTTP
//   checks.ts      what every answer must satisfy
//   fixed-bugs.ts  server bugs found so far, and their reproductions
export { runCase, recover } from './calls.ts';
export { caseArbitrary } from './cases.ts';
export { PROCEDURES, type ProcedureSpec } from './catalogue.ts';
export type { Outcome } from './checks.ts';
export { CONTRACT_ERRORS, FUZZ_ENV_OVERRIDES, type ErrorCode } from './contract.ts';
export { FIXED_BUGS, fixedBugReproductions } from './fixed-bugs.ts';
export { inputText } from './input-text.ts';
export { prepareWorld, type World } from './world.ts';
