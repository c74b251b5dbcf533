// Sending a case over plain HTTP, as any client would: credentials, method, content type, and an
// input that fits the URL (a query) or makes the body (a mutation).
import type { AuthChoice, HostileCase } from './cases.ts';
import type { ProcedureSpec } from './catalogue.ts';
import { checkAnswer, type Outcome } from './checks.ts';
import { MAX_QUERY_URL } from './contract.ts';
import { abbreviate, inputText, NO_INPUT, RawJson, withOwn } from './input-text.ts';
import { logIn, newcomer, relogin, withFreshValues, type Caller, type World } from './world.ts';

/**
 * Shortens an input until its URL fits: strings are cut, then arrays and nesting are trimmed.
 * Returns the JSON text to send (the same as `inputText` when it already fits).
 */
export function fitQuery(input: unknown, baseLength: number): string | undefined {
  const text = inputText(input);
  if (text === undefined || baseLength + encodeURIComponent(text).length <= MAX_QUERY_URL) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.slice(0, 1000);
  }
  for (const [maxString, maxItems, maxDepth] of [
    [2000, 50, 600],
    [500, 20, 400],
    [100, 10, 300],
    [20, 5, 200],
    [5, 2, 100],
  ] as const) {
    const shorter = JSON.stringify(shrink(value, maxString, maxItems, maxDepth));
    if (baseLength + encodeURIComponent(shorter).length <= MAX_QUERY_URL) return shorter;
  }
  return '{}';
}

function shrink(value: unknown, maxString: number, maxItems: number, depthLeft: number): unknown {
  if (typeof value === 'string') return value.slice(0, maxString);
  if (value === null || typeof value !== 'object') return value;
  if (depthLeft <= 0) return null;
  if (Array.isArray(value))
    return value.slice(0, maxItems).map((item) => shrink(item, maxString, maxItems, depthLeft - 1));
  return Object.entries(value)
    .slice(0, maxItems)
    .reduce<Record<string, unknown>>(
      (acc, [key, item]) => withOwn(acc, key.slice(0, maxString), shrink(item, maxString, maxItems, depthLeft - 1)),
      {},
    );
}

/** Who `auth: valid` is for this procedure (see ProcedureSpec.caller). */
async function validCaller(world: World, spec: ProcedureSpec): Promise<Caller> {
  switch (spec.caller ?? 'self') {
    case 'self':
      return { account: world.self, accessToken: world.selfToken };
    case 'sacrificial':
      return { account: world.sacrificial, accessToken: (await logIn(world.url, world.sacrificial)).accessToken };
    case 'keyholder':
      return { account: world.keyholder, accessToken: (await logIn(world.url, world.keyholder)).accessToken };
    case 'newcomer':
      return newcomer(world);
  }
}

async function authorizationFor(
  world: World,
  spec: ProcedureSpec,
  auth: AuthChoice,
): Promise<{ authorization?: string; caller?: Caller }> {
  switch (auth.kind) {
    case 'none':
      return {};
    case 'valid': {
      const caller = await validCaller(world, spec);
      return { authorization: `Bearer ${caller.accessToken}`, caller };
    }
    case 'stale':
      return { authorization: `Bearer ${world.staleAccessToken}` };
    case 'tampered': {
      const token = world.selfToken;
      return { authorization: `Bearer ${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}` };
    }
    case 'refresh-as-access':
      return { authorization: `Bearer ${world.refreshTokens[0]}` };
    case 'header':
      return { authorization: auth.value };
  }
}

/** Sends one call and checks its answer (see checks.ts). Never throws for a bad answer: see `problems`. */
export async function runCase(world: World, spec: ProcedureSpec, hostile: HostileCase): Promise<Outcome> {
  const { authorization, caller } = await authorizationFor(world, spec, hostile.auth);
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  if (hostile.userAgent !== undefined) headers['user-agent'] = hostile.userAgent;
  const wrongMethod = hostile.transport.kind === 'wrong-method';
  const method = (spec.kind === 'query') !== wrongMethod ? 'GET' : 'POST';
  const base = `${world.url}/trpc/${spec.path}`;
  let url = base;
  let body: string | undefined;
  let contentType = 'application/json';
  // What is actually sent (a query's input may have been shortened to fit the URL); checks use it.
  let sent: string | undefined;
  if (method === 'GET') {
    sent = fitQuery(hostile.input, base.length + 7);
    if (sent !== undefined) sent = await withFreshValues(world, sent);
    if (sent !== undefined) url = `${base}?input=${encodeURIComponent(sent)}`;
  } else {
    sent = inputText(hostile.input);
    body = sent = sent === undefined ? undefined : await withFreshValues(world, sent);
    if (hostile.transport.kind === 'content-type') contentType = hostile.transport.value;
    headers['content-type'] = contentType;
  }
  const sentInput = sent === undefined ? NO_INPUT : new RawJson(sent);
  const request = `${method} ${abbreviate(url, 300)} auth=${hostile.auth.kind}${
    body === undefined ? '' : ` content-type=${contentType} body=${abbreviate(body, 300)}`
  }`;

  let response: Response;
  try {
    response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  } catch (error) {
    return {
      status: 0,
      code: undefined,
      problems: [`no answer: ${(error as Error).message}`],
      request,
      response: '',
    };
  }
  const text = await response.text();
  return checkAnswer(
    world,
    spec,
    hostile,
    { method, body, contentType, input: sentInput, request, caller },
    response,
    text,
  );
}

/** Restores the state a run relies on after an outcome that broke it (a refused valid token). */
export async function recover(world: World, outcome: Outcome): Promise<void> {
  if (outcome.problems.includes('a valid access token was refused')) await relogin(world);
}
