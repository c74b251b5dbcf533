// GET /openapi.json (contract: "Open to every client"): an OpenAPI 3.1 document that passes
// @readme/openapi-parser's validation, made from the router the app serves, with a route for every
// query and mutation, and error answers that say what the routes really answer.
import { randomUUID } from 'node:crypto';
import { validate, compileErrors } from '@readme/openapi-parser';
import type { OpenAPIObject } from 'trpc-to-openapi';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { rest } from '../server/rest/route-meta.ts';
import { mergeRouters, publicProcedure, router } from '../server/trpc/init.ts';
import { appRouter } from '../server/trpc/router.ts';
import { startTestApp, useTestApp } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { call } from './helpers/rest-calls.ts';

// The contract's list of REST routes, by procedure.
const CONTRACT_ROUTES: Record<string, string> = {
  'auth.signup': 'POST /auth/signup',
  'auth.login': 'POST /auth/login',
  'auth.refresh': 'POST /auth/refresh',
  'auth.logout': 'POST /auth/logout',
  'auth.logoutAll': 'POST /auth/logout-all',
  'auth.changePassword': 'POST /auth/change-password',
  'auth.deleteAccount': 'POST /auth/delete-account',
  'auth.me': 'GET /me',
  'users.updateProfile': 'PATCH /me',
  'auth.sessions': 'GET /me/sessions',
  'posts.create': 'POST /posts',
  'posts.byId': 'GET /posts/{id}',
  'posts.delete': 'DELETE /posts/{id}',
  'posts.restore': 'POST /posts/{id}/restore',
  'posts.timeline': 'GET /timeline',
  'users.profile': 'GET /users/{username}',
  'posts.byUser': 'GET /users/{username}/posts',
  'users.followers': 'GET /users/{username}/followers',
  'users.following': 'GET /users/{username}/following',
  'users.follow': 'PUT /users/{username}/follow',
  'users.unfollow': 'DELETE /users/{username}/follow',
};

type OperationObject = NonNullable<NonNullable<OpenAPIObject['paths']>[string]['get']>;

interface Operation {
  method: string;
  path: string;
  operation: OperationObject;
}

function operationsOf(document: OpenAPIObject): Operation[] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item as Record<string, OperationObject>).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operation,
    })),
  );
}

/** The procedure an operation calls: its operationId is the procedure's path with dashes. */
const procedureOf = (operation: OperationObject) => operation.operationId!.replace('-', '.');

const requiresToken = (operation: OperationObject) =>
  operation.security?.length === 1 && 'bearerAuth' in operation.security[0]!;

describe('GET /openapi.json', () => {
  const t = useTestApp();
  const fetchDocument = async () => {
    const response = await fetch(`${t.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    return (await response.json()) as OpenAPIObject;
  };

  it('is an OpenAPI 3.1 document that @readme/openapi-parser validates without errors or warnings', async () => {
    const document = await fetchDocument();
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(document.info).toMatchObject({ title: 'Warble API', version: expect.any(String) });
    // Relative: the server that served the document.
    expect(document.servers).toEqual([{ url: '/api' }]);
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('has exactly the contract’s routes, each calling its procedure', async () => {
    const routes = operationsOf(await fetchDocument()).map(({ method, path, operation }) => [
      procedureOf(operation),
      `${method} ${path}`,
    ]);
    expect(Object.fromEntries(routes)).toEqual(CONTRACT_ROUTES);
    expect(routes).toHaveLength(Object.keys(CONTRACT_ROUTES).length);
  });

  it('has a route for every query and mutation of the router (subscriptions are SSE only)', async () => {
    const routed = new Set(operationsOf(await fetchDocument()).map(({ operation }) => procedureOf(operation)));
    const procedures = Object.entries(
      appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>,
    );
    expect(procedures.length).toBeGreaterThan(20);
    for (const [path, procedure] of procedures) {
      if (procedure._def.type === 'subscription') expect(routed.has(path), path).toBe(false);
      else expect(routed.has(path), `${path} has no REST route`).toBe(true);
    }
  });

  it('declares bearer auth, and requires it on exactly the protected routes', async () => {
    const document = await fetchDocument();
    expect(document.components?.securitySchemes).toEqual({
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    const secured = operationsOf(document)
      .filter(({ operation }) => requiresToken(operation))
      .map(({ operation }) => procedureOf(operation))
      .sort();
    expect(secured).toEqual(
      [
        'auth.logoutAll',
        'auth.changePassword',
        'auth.deleteAccount',
        'auth.sessions',
        'auth.me',
        'posts.create',
        'posts.delete',
        'posts.restore',
        'posts.timeline',
        'users.follow',
        'users.unfollow',
        'users.updateProfile',
      ].sort(),
    );
    // users.profile takes a token, or none.
    const profile = operationsOf(document).find(({ operation }) => procedureOf(operation) === 'users.profile')!;
    expect(profile.operation.security).toEqual([{}, { bearerAuth: [] }]);
  });

  it('describes every route’s input, output and error answers, with Retry-After on 429 and 503', async () => {
    const document = await fetchDocument();
    expect(document.components?.schemas?.Error).toMatchObject({
      type: 'object',
      required: ['message', 'code'],
      properties: { message: { type: 'string' }, code: expect.any(Object), issues: expect.any(Object) },
    });
    for (const { method, path, operation } of operationsOf(document)) {
      const where = `${method} ${path}`;
      const responses = operation.responses as Record<string, { content?: unknown; headers?: object }>;
      expect(responses['200']?.content, where).toBeDefined();
      for (const status of ['429', '500', '503']) expect(Object.keys(responses), where).toContain(status);
      if (requiresToken(operation)) expect(Object.keys(responses), where).toContain('401');
      if (operation.requestBody) expect(Object.keys(responses), where).toEqual(expect.arrayContaining(['400', '415']));
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 400) continue;
        expect(response.content, `${where} ${status}`).toEqual({
          'application/json': { schema: { $ref: '#/components/schemas/Error' } },
        });
        if (status === '429' || status === '503')
          expect(response.headers, `${where} ${status}`).toHaveProperty('Retry-After');
      }
    }
    const timeline = document.paths!['/timeline']!.get!;
    expect(timeline.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          in: 'query',
          name: 'limit',
          schema: expect.objectContaining({ type: 'integer', maximum: 100 }),
        }),
        expect.objectContaining({ in: 'query', name: 'cursor' }),
      ]),
    );
    expect(document.paths!['/posts']!.post!.requestBody).toMatchObject({
      content: { 'application/json': { schema: { properties: { body: { type: 'string' } } } } },
    });
  });

  it('lists every status a route gives to a call without a token, or with a bad one', async () => {
    // Each route called as a stranger would: path parameters that name nothing, an empty body.
    for (const { method, path, operation } of operationsOf(await fetchDocument())) {
      const url = path.replace('{id}', randomUUID()).replace('{username}', 'nobody_here');
      const body = operation.requestBody ? {} : undefined;
      const documented = Object.keys(operation.responses as object);
      const anonymous = await call(t.url, method, url, { body });
      expect(documented, `${method} ${path} without a token: ${anonymous.status}`).toContain(String(anonymous.status));
      if (requiresToken(operation)) expect(anonymous.status, `${method} ${path}`).toBe(401);
      const badToken = await call(t.url, method, url, { body, token: 'not-a-token' });
      expect(documented, `${method} ${path} with a bad token: ${badToken.status}`).toContain(String(badToken.status));
      if (operation.security) expect(badToken.status, `${method} ${path}`).toBe(401);
    }
  });
});

describe('the document is made from the router the app serves', () => {
  it('shows a route that only this app’s router has', async () => {
    const extra = mergeRouters(
      appRouter,
      router({
        extra: router({
          hello: publicProcedure
            .meta(rest('GET /extra/hello', { summary: 'Only here', access: 'public' }))
            .output(z.object({ hello: z.literal('world') }))
            .query(() => ({ hello: 'world' as const })),
        }),
      }),
    );
    const db = await createTestDatabase();
    const app = await startTestApp({ databaseUrl: db.url, router: extra });
    try {
      const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as OpenAPIObject;
      expect(document.paths?.['/extra/hello']?.get?.operationId).toBe('extra-hello');
      expect(await (await fetch(`${app.url}/api/extra/hello`)).json()).toEqual({ hello: 'world' });
    } finally {
      await app.close();
      await db.drop();
    }
  });
});
