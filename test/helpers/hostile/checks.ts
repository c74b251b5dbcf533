// What every answer must satisfy, whatever was sent: no 5xx, no leak of internals, only the
// contract's errors (with their HTTP statuses and shapes), and a success of the right shape.
import { z } from 'zod';
import type { HostileCase } from './cases.ts';
import type { ProcedureSpec } from './catalogue.ts';
import { BODY_LIMIT_BYTES, CONTRACT_ERRORS, type ErrorCode } from './contract.ts';
import { knownBugOf, type FIXED_BUGS } from './fixed-bugs.ts';
import { abbreviate, fieldOf, parsed } from './input-text.ts';
import type { Caller, World } from './world.ts';

/**
 * What must never reach a client outside development: SQL and database words, file paths and
 * stack frames, and the words of the libraries underneath (jsonwebtoken, zod, MikroORM, pg,
 * the JavaScript engine).
 */
export const LEAK_PATTERNS: readonly RegExp[] = [
  /\bselect\b/i,
  /\binsert\b/i,
  /\bupdate\b/i,
  /\bdelete\s+from\b/i,
  /\brelation\b/i,
  /\bconstraint\b/i,
  /duplicate key/i,
  /\bviolates\b/i,
  /syntax error/i,
  /invalid input syntax/i,
  /out of range/i,
  /\bsql\b/i,
  /postgres/i,
  /\bpg-/i,
  /node-postgres/i,
  /\/server\//,
  /node_modules/,
  /\.[cm]?[jt]s:\d/,
  /\.ts:/,
  /\bat .+:\d+:\d+/,
  /\bjwt /i,
  /jsonwebtoken/i,
  /ZodError/,
  /MikroORM/i,
  /Kysely/i,
  /\b(Type|Range|Reference|Syntax)Error\b/,
  /Cannot read propert/i,
  /is not a function/i,
  /is not valid JSON/i,
  /Unexpected (token|end of JSON|non-whitespace)/i,
  /in JSON at position/i,
  /Expected (property name|',' or|double-quoted)/i,
  /Bad (control|escaped) character/i,
  /Maximum call stack/i,
  /ECONNREFUSED|ECONNRESET|EPIPE/,
  /\$2[aby]\$\d\d\$/, // a bcrypt hash
  /password_?hash|token_?hash/i,
];

export interface Outcome {
  status: number;
  /** error.data.code of a failure. */
  code: string | undefined;
  /** Everything wrong with the answer; empty when it passes. */
  problems: string[];
  /** The request as sent, abbreviated, for reports. */
  request: string;
  /** The raw answer, abbreviated. */
  response: string;
  /** Set when the problems are those of a bug in FIXED_BUGS (for reports; they are still problems). */
  knownBug?: keyof typeof FIXED_BUGS;
}

const isJsonContentType = (value: string) => /^application\/json\s*(;|$)/i.test(value);

/** Keys and strings of a JSON value, walked without recursion (inputs may be 20,000 levels deep). */
function stringsIn(value: unknown): { keys: string[]; strings: string[] } {
  const keys: string[] = [];
  const strings: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') strings.push(current);
    else if (current && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (!Array.isArray(current)) keys.push(key);
        stack.push(item);
      }
    }
  }
  return { keys, strings };
}

/** An error's texts with the parts that merely quote the input taken out. */
function withoutEchoes(text: string, input: unknown): string {
  const { keys, strings } = stringsIn(input);
  let result = text;
  for (const echoed of [...keys, ...strings]) {
    if (echoed.length === 0 || echoed.length > 1000) continue;
    result = result.replaceAll(`"${echoed}"`, '""').replaceAll(JSON.stringify(echoed), '""');
  }
  return result;
}

/** What was sent, as the checks need it. */
export interface SentCall {
  method: 'GET' | 'POST';
  /** The body of a POST; undefined for a GET, and for a POST without one. */
  body: string | undefined;
  contentType: string;
  /** The input as actually sent (a query's may have been shortened to fit the URL). */
  input: unknown;
  /** The request as sent, abbreviated, for reports. */
  request: string;
  /** Who the call was made as, when it carried a valid token. */
  caller?: Caller;
}

/**
 * An UNAUTHORIZED marked `reason: 'WRONG_PASSWORD'` (the password in the input, not the token) is
 * a fair answer only from a procedure that checks the caller's password, to a valid token, for a
 * password that was not the caller's. Returns what is wrong with it, if anything.
 */
function wrongPasswordProblem(spec: ProcedureSpec, hostile: HostileCase, sent: SentCall): string | undefined {
  if (!spec.passwordField) return `${spec.path} has no password to refuse, yet answered WRONG_PASSWORD`;
  if (hostile.auth.kind !== 'valid' || !sent.caller) return 'WRONG_PASSWORD for a call without a valid token';
  const password = fieldOf(sent.input, spec.passwordField);
  // Passwords are compared after NFC normalisation (as at signup and login).
  return typeof password === 'string' && password.normalize('NFC') === sent.caller.account.password
    ? "the caller's own password was refused as wrong"
    : undefined;
}

/** Checks the answer to one call. Never throws for a bad answer: see `problems`. */
export async function checkAnswer(
  world: World,
  spec: ProcedureSpec,
  hostile: HostileCase,
  sent: SentCall,
  response: Response,
  text: string,
): Promise<Outcome> {
  const { method, body, contentType, input: sentInput, request } = sent;
  const wrongMethod = hostile.transport.kind === 'wrong-method';
  const outcome: Outcome = {
    status: response.status,
    code: undefined,
    problems: [],
    request,
    response: abbreviate(text, 600),
  };
  const problem = (message: string) => outcome.problems.push(message);

  if (response.status >= 500) problem(`status ${response.status}`);
  if (Object.hasOwn(Object.prototype, 'warblePolluted')) problem('Object.prototype was polluted');

  let parsedBody: unknown;
  try {
    parsedBody = JSON.parse(text);
  } catch {
    problem('the answer is not JSON');
    return outcome;
  }
  const answer = parsedBody as {
    result?: { data?: unknown };
    error?: { message?: unknown; code?: unknown; data?: Record<string, unknown> };
  };
  if (stringsIn(parsedBody).keys.includes('stack')) problem('the answer has a stack');

  const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body);
  const oddType = method === 'POST' && !isJsonContentType(contentType);
  const expected: string | undefined = oddType
    ? 'UNSUPPORTED_MEDIA_TYPE'
    : bodyBytes > BODY_LIMIT_BYTES
      ? 'PAYLOAD_TOO_LARGE'
      : wrongMethod
        ? 'METHOD_NOT_SUPPORTED'
        : undefined;

  if (response.status === 200) {
    if (expected) problem(`expected ${expected}, but the call succeeded`);
    if (!answer.result || !('data' in answer.result)) {
      problem('a 200 without result.data');
      return outcome;
    }
    const shape = spec.output.safeParse(answer.result.data);
    if (!shape.success) problem(`unexpected output shape: ${abbreviate(JSON.stringify(z.treeifyError(shape.error)))}`);
    else {
      const wrong = await spec.verify?.(sentInput, answer.result.data, world, sent.caller);
      if (wrong) problem(wrong);
    }
    // User content comes back on success (post bodies may say anything), so only secrets are searched.
    if (/\$2[aby]\$\d\d\$/.test(text) || /"password(Hash)?"\s*:/.test(text)) problem('a password or its hash leaked');
    return outcome;
  }

  const error = answer.error;
  const code = typeof error?.data?.code === 'string' ? error.data.code : undefined;
  outcome.code = code;
  if (!error || typeof error.message !== 'string' || !code) {
    problem('a failure without the tRPC error shape');
    return outcome;
  }
  if (!(code in CONTRACT_ERRORS)) problem(`error code ${code} is not in the contract`);
  else if (CONTRACT_ERRORS[code as ErrorCode] !== response.status)
    problem(`${code} answered with HTTP ${response.status}`);
  if (error.data?.httpStatus !== response.status) problem('error.data.httpStatus differs from the HTTP status');
  const reason = error.data?.reason;
  const wrongPassword = reason === 'WRONG_PASSWORD' && code === 'UNAUTHORIZED';
  if (reason !== undefined && !wrongPassword) problem(`unexpected error.data.reason ${JSON.stringify(reason)}`);
  if (wrongPassword) {
    const wrong = wrongPasswordProblem(spec, hostile, sent);
    if (wrong) problem(wrong);
  }

  if (expected) {
    // A wrong method may also be refused for its content type, or its size; never executed.
    const acceptable = new Set([
      expected,
      ...(wrongMethod || oddType ? ['METHOD_NOT_SUPPORTED', 'UNSUPPORTED_MEDIA_TYPE'] : []),
    ]);
    if (bodyBytes > BODY_LIMIT_BYTES) acceptable.add('PAYLOAD_TOO_LARGE');
    if (!acceptable.has(code)) problem(`expected ${expected}, got ${code}`);
  } else {
    const allowed = new Set<string>(['BAD_REQUEST']);
    const sentBadToken = hostile.auth.kind !== 'none' && hostile.auth.kind !== 'valid';
    if (spec.access === 'protected' && hostile.auth.kind !== 'valid') allowed.add('UNAUTHORIZED');
    else if (spec.access === 'optional' && sentBadToken) allowed.add('UNAUTHORIZED');
    if (spec.access === 'public' || spec.access === 'optional' || hostile.auth.kind === 'valid')
      for (const allowedCode of spec.errors) allowed.add(allowedCode);
    // Judged above (wrongPasswordProblem); a plain UNAUTHORIZED to a valid token stays a refusal.
    if (wrongPassword) allowed.add('UNAUTHORIZED');
    if (!allowed.has(code) && response.status < 500) {
      problem(
        code === 'UNAUTHORIZED' && hostile.auth.kind === 'valid'
          ? 'a valid access token was refused'
          : `${code} is not an answer ${spec.path} may give here`,
      );
    }
  }

  if (code === 'BAD_REQUEST') {
    const zodError = error.data?.zodError as { formErrors?: unknown; fieldErrors?: unknown } | null | undefined;
    if (zodError) {
      if (!Array.isArray(zodError.formErrors) || !zodError.fieldErrors || typeof zodError.fieldErrors !== 'object')
        problem('zodError without formErrors and fieldErrors');
    } else if (error.message.trim() === '') problem('a BAD_REQUEST without zodError or message');
  }
  if (code === 'TOO_MANY_REQUESTS' && !response.headers.get('retry-after')) problem('a 429 without Retry-After');

  // Everything the error says, minus what merely quotes the input back.
  const echoed = parsed(sentInput);
  const patterns = new Set<RegExp>();
  const leaks = [error.message, ...stringsIn(error.data).strings, ...stringsIn(error.data).keys].flatMap((text) => {
    const said = withoutEchoes(text, echoed);
    const matched = LEAK_PATTERNS.filter((pattern) => pattern.test(said));
    for (const pattern of matched) patterns.add(pattern);
    return matched.length ? [JSON.stringify(abbreviate(said, 200))] : [];
  });
  if (leaks.length > 0) problem(`the error leaks internals: ${leaks.join('; ')} (${[...patterns].join(' ')})`);
  outcome.knownBug = knownBugOf(sentInput, outcome);
  return outcome;
}
