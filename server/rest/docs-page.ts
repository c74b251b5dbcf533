// GET /docs: the interactive API reference (contract: "Open to every client"). Swagger UI from
// @fastify/swagger-ui's own bundled files, showing the OpenAPI document it is given; the page loads
// nothing from outside the server, and its Content-Security-Policy makes the browser hold to that.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const DOCS_PREFIX = '/docs';

/**
 * What the page may load, and from where: only this server. Swagger UI needs nothing inline except
 * images: its stylesheet draws its icons as `data:` SVGs (and its syntax highlighter's styles are
 * set through the DOM, which CSP allows). No 'unsafe-inline', no 'unsafe-eval'.
 * - connect-src 'self': the document (/docs/json) and "Try it out" calls, to this origin only (a
 *   `servers` entry on another origin would be refused, which is the point).
 * - no upgrade-insecure-requests (@fastify/swagger-ui's default has it): the server may be reached
 *   over plain HTTP (a developer's machine, behind a TLS-terminating proxy that rewrites nothing).
 */
export const DOCS_CSP = {
  'default-src': "'none'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' data:",
  'font-src': "'self'",
  'connect-src': "'self'",
  'form-action': "'none'",
  'base-uri': "'none'",
  'object-src': "'none'",
  'frame-ancestors': "'none'",
} as const;

export interface DocsPageOptions {
  /**
   * The OpenAPI document to show; read once, at registration. Its `servers` should be paths on
   * this server ("/", not "https://…"), so "Try it out" calls the server that serves the page.
   * Typed loosely: trpc-to-openapi's and openapi-types' document types differ, and the page only
   * hands the document to the browser.
   */
  document: () => object;
}

/**
 * Serves the page at /docs and what it needs under /docs/: /docs/static/* (Swagger UI's files),
 * /docs/json and /docs/yaml (the document). Everything is registered in a scope of its own, so the
 * `swagger` decorator, the page's CSP hook and the plugins' routes stay out of the rest of the app;
 * the app's hooks (Cache-Control, nosniff, request id) and its 404/error handlers still apply.
 */
export async function registerDocsPage(app: FastifyInstance, options: DocsPageOptions): Promise<void> {
  await app.register(async (scope) => {
    // Static mode: @fastify/swagger only holds the given document. (Its default, dynamic mode,
    // would describe every Fastify route through an onRoute hook; those are not the REST API.)
    await scope.register(fastifySwagger, {
      mode: 'static',
      // The document is only passed on, never read by the plugin; its types name OpenAPI 2 and 3.0.
      specification: { document: options.document() as never },
    });
    await scope.register(fastifySwaggerUi, {
      routePrefix: DOCS_PREFIX,
      // Otherwise Swagger UI sends the document to validator.swagger.io for a badge.
      validatorUrl: false,
      staticCSP: DOCS_CSP,
      theme: { title: 'Warble API reference' },
      uiConfig: {
        // The page without Swagger's top bar: no logo, and no box for loading another document
        // from any URL (which the CSP would refuse anyway).
        layout: 'BaseLayout',
        deepLinking: true,
        displayRequestDuration: true,
        // Tokens typed into "Authorize" stay in the page's memory, never in localStorage.
        persistAuthorization: false,
        tryItOutEnabled: false,
      },
    });
  });
}
