// The REST routes, read from the procedures' meta (route-meta.ts): one list for the HTTP routes
// (rest-plugin.ts), the OpenAPI document (openapi.ts) and the tests. A procedure without
// `meta.openapi` (a subscription, a test-only procedure) has none.
import type { AnyProcedure, AnyRouter } from '@trpc/server';
import type { OpenApiMethod } from 'trpc-to-openapi';
import type { Access, RestMeta } from './route-meta.ts';

/** Where the REST routes live; the document's `servers` entry. */
export const REST_PREFIX = '/api';

export interface RestRoute {
  method: OpenApiMethod;
  /** Under /api, as the document writes it: parameters in braces (`/posts/{id}`). */
  path: string;
  /** Where the procedure is in the router (`posts.byId`). */
  procedurePath: string;
  procedure: AnyProcedure;
  access: Access;
  /** The statuses particular to this route, with what they mean here. */
  errors: Record<number, string>;
}

export function restRoutes(router: AnyRouter): RestRoute[] {
  const procedures = router._def.procedures as Record<string, AnyProcedure>;
  return Object.entries(procedures).flatMap(([procedurePath, procedure]) => {
    const meta = procedure._def.meta as RestMeta | undefined;
    const openapi = meta?.openapi;
    if (!openapi || openapi.enabled === false || procedure._def.type === 'subscription') return [];
    const access = meta.access ?? (openapi.protect === false ? 'public' : 'token');
    return [
      { method: openapi.method, path: openapi.path, procedurePath, procedure, access, errors: meta.errors ?? {} },
    ];
  });
}

/** Whether the route's input comes in the body (else in the query string). */
export const takesBody = (method: OpenApiMethod) => method !== 'GET' && method !== 'DELETE';
