// GET /openapi.json: the OpenAPI 3.1 document of the REST routes, generated from the router when
// the app is built (so it describes exactly the procedures it serves). trpc-to-openapi turns each
// route's input and output schemas into parameters, bodies and answers; the error answers, which
// statuses each route can give and why, are added here from the route's meta (route-meta.ts) and
// from what every route shares (the budget, the JSON-only door, bearer tokens).
import type { AnyRouter } from '@trpc/server';
import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import packageJson from '../../package.json' with { type: 'json' };
import { BODY_LIMIT_BYTES } from '../http/body-limit.ts';
import { restErrorSchema } from './rest-errors.ts';
import { REST_PREFIX, restRoutes, takesBody, type RestRoute } from './routes.ts';

const BEARER = 'bearerAuth';

const DESCRIPTION = `Warble's procedures as plain REST: each route below calls the tRPC procedure of the same
name (its \`operationId\`), with the same input, output, rules and limits.

- Bodies are JSON (\`Content-Type: application/json\`); query parameters are strings (\`limit=20\`).
- Lists page with \`cursor\` (the previous page's \`nextCursor\`) and \`limit\` (1–100, default 20).
- Protected routes take \`Authorization: Bearer <accessToken>\` from \`POST /auth/login\`; renew it
  with \`POST /auth/refresh\`.
- Every error is \`{ message, code, issues? }\`: \`code\` is the tRPC error code, \`issues\` the field
  problems of an invalid input. A 429 or 503 carries \`Retry-After\` (seconds).
- Live timeline updates (\`posts.onTimeline\`) are a server-sent event stream, only over /trpc.`;

const TAGS = [
  { name: 'auth', description: 'Accounts, tokens and sessions' },
  { name: 'posts', description: 'Posts and timelines' },
  { name: 'users', description: 'Profiles and follows' },
];

/** What any route of its kind can answer, beyond what its meta lists. */
function commonErrors(route: RestRoute): Record<number, string> {
  const body = takesBody(route.method);
  const errors: Record<number, string> = {};
  // A body can always be malformed JSON, even for a procedure without input.
  if (body || route.procedure._def.inputs.length > 0) errors[400] = 'Invalid input: `issues` lists each field problem';
  if (route.access === 'token') errors[401] = 'Missing, invalid or expired access token, or its session ended';
  if (body) {
    errors[413] = `Body larger than ${BODY_LIMIT_BYTES} bytes`;
    errors[415] = 'A body that is not `application/json`';
  }
  errors[429] = 'Too many calls from this client (RATE_LIMIT_CALLS_PER_MINUTE)';
  errors[500] = 'Internal server error (never any details)';
  errors[503] = 'The server sheds load (too many calls in progress from this client) or the database is unavailable';
  return errors;
}

/** The route's own reasons replace the common ones; a 429 can always also be the call budget. */
function errorsOf(route: RestRoute): Record<number, string> {
  const common = commonErrors(route);
  const errors = { ...common, ...route.errors };
  if (route.errors[429]) errors[429] = `${route.errors[429]}, or ${common[429]!.toLowerCase()}`;
  return errors;
}

function errorResponse(description: string, status: number) {
  return {
    description,
    ...(status === 429 || status === 503
      ? { headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } }
      : {}),
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

export function openApiDocument(router: AnyRouter): OpenAPIObject {
  const document = generateOpenApiDocument(router, {
    title: 'Warble API',
    version: packageJson.version,
    description: DESCRIPTION,
    // Relative: the server that serves this document (its /docs page calls it too).
    baseUrl: REST_PREFIX,
    securitySchemes: {
      [BEARER]: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'The `accessToken` of `POST /auth/login` or `POST /auth/refresh`.',
      },
    },
    defs: { Error: restErrorSchema },
  });
  document.tags = TAGS;
  document.components = {
    ...document.components,
    headers: {
      RetryAfter: {
        description: 'Seconds to wait before calling again.',
        schema: { type: 'integer', minimum: 1 },
      },
    },
  };
  for (const route of restRoutes(router)) {
    const operation = document.paths?.[route.path]?.[route.method.toLowerCase() as 'get'];
    if (!operation) throw new Error(`${route.procedurePath}: not in the generated document`);
    operation.tags = [route.procedurePath.split('.')[0]!];
    if (route.access === 'public') delete operation.security;
    // The empty requirement: this route may be called without a token too.
    else operation.security = route.access === 'token' ? [{ [BEARER]: [] }] : [{}, { [BEARER]: [] }];
    // A route whose input is all in its path has no body (the generator leaves a null there).
    if (!operation.requestBody) delete operation.requestBody;
    for (const parameter of operation.parameters ?? []) {
      // A query string cannot say null: a nullable parameter (`cursor`) is simply left out.
      if ('schema' in parameter && parameter.schema && 'anyOf' in parameter.schema) {
        const kinds = parameter.schema.anyOf!.filter((kind) => !('type' in kind && kind.type === 'null'));
        if (kinds.length === 1) parameter.schema = kinds[0]!;
      }
    }
    const responses = (operation.responses ??= {});
    for (const [status, description] of Object.entries(errorsOf(route))) {
      responses[status] = errorResponse(description, Number(status));
    }
  }
  return document;
}
