// How a procedure gets its REST route: `.meta(rest('POST /auth/signup', { … }))`. The method and
// path (under /api) become trpc-to-openapi's `meta.openapi`, which its document generator reads;
// our adapter (rest-plugin.ts) serves the same routes. The rest is for the document: who may call,
// and what this route can refuse beyond what every route can (openapi.ts adds those).
import type { OpenApiMeta, OpenApiMethod } from 'trpc-to-openapi';

/** Anyone; a bearer token required; or a token that only personalises the answer (users.profile). */
export type Access = 'public' | 'token' | 'optional token';

export interface RestRouteOptions {
  summary: string;
  access: Access;
  /** The statuses particular to this route, each with what it means here. */
  errors?: Record<number, string>;
}

/** The meta of every procedure (trpc/init.ts). */
export type RestMeta = OpenApiMeta<{ access?: Access; errors?: Record<number, string> }>;

export function rest(
  route: `${OpenApiMethod} /${string}`,
  { summary, access, errors = {} }: RestRouteOptions,
): RestMeta {
  const [method, path] = route.split(' ') as [OpenApiMethod, `/${string}`];
  return {
    access,
    errors,
    // `errorResponses: {}` keeps the generator's own error entries out: openapi.ts writes them all.
    openapi: { method, path, summary, protect: access === 'token', errorResponses: {} },
  };
}
