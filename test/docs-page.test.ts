// GET /docs (contract: "Open to every client"): the interactive API reference. Over HTTP on the real
// app (its hooks, its 404, its /openapi.json); in Chromium, with every request to another origin
// refused and recorded, on a small app with a sample OpenAPI 3.1 document and on the real app: the
// page must render and "Try it out" must work without any.
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replyNotFound } from '../server/http/fastify-errors.ts';
import { addSafeHeaders } from '../server/http/response-headers.ts';
import { DOCS_CSP, registerDocsPage } from '../server/rest/docs-page.ts';
import { useTestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { launchChromium } from './helpers/chromium.ts';

const SLOW = 60_000; // the CPU is shared with the other test files
const WAIT = { timeout: 15_000 };
const TOKEN = 'sample-access-token';
// The origin the browser opens the page on; the test passes its requests on to the app under test.
// Not 127.0.0.1: Swagger UI leaves out its validator badge (a request to validator.swagger.io) on
// localhost pages only, so on a loopback address the test could not see that badge being asked for.
const PAGE_ORIGIN = 'http://warble.test';

// A sample, on a small app: two of its routes are real (/healthz, /sample/me) so that "Try it out"
// has something to call; the others are only shown.
const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warble sample API', version: '1.0.0' },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    schemas: {
      Error: {
        type: 'object',
        properties: { message: { type: 'string' }, code: { type: 'string' } },
        required: ['message', 'code'],
      },
      Profile: {
        type: 'object',
        properties: { username: { type: 'string' }, displayName: { type: ['string', 'null'] } },
        required: ['username', 'displayName'],
      },
    },
  },
  paths: {
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness',
        responses: { '200': { description: 'Alive', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/sample/me': {
      get: {
        operationId: 'me',
        summary: 'The signed-in user',
        security: [{ bearerAuth: [] }],
        responses: {
          '200': {
            description: 'Profile',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Profile' } } },
          },
          '401': {
            description: 'No token',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        },
      },
    },
    '/sample/posts': {
      post: {
        operationId: 'createPost',
        summary: 'Publish a post',
        security: [{ bearerAuth: [] }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', properties: { body: { type: 'string', maxLength: 280 } }, required: ['body'] },
            },
          },
        },
        responses: { '200': { description: 'Created' } },
      },
    },
    '/sample/users/{username}': {
      get: {
        operationId: 'profile',
        summary: 'A public profile',
        parameters: [{ name: 'username', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'Profile',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Profile' } } },
          },
        },
      },
    },
  },
};

const t = useTestApp();
let sample: FastifyInstance;
let sampleUrl: string;
let browser: Browser | undefined;

/** A small app with what app.ts gives every answer (headers, 404) and the docs of DOCUMENT. */
async function startSampleApp(): Promise<FastifyInstance> {
  const app = Fastify();
  app.addHook('onSend', (_request, reply, payload, done) => {
    addSafeHeaders(reply, payload);
    done(null, payload);
  });
  app.setNotFoundHandler(replyNotFound);
  app.get('/healthz', () => ({ status: 'ok' }));
  // The one route the sample document marks as authenticated and the page really calls.
  app.get('/sample/me', (request, reply) =>
    request.headers.authorization === `Bearer ${TOKEN}`
      ? { username: 'ada', displayName: null }
      : reply.code(401).send({ message: 'Sign in first', code: 'UNAUTHORIZED' }),
  );
  await registerDocsPage(app, { document: () => DOCUMENT });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

beforeAll(async () => {
  sample = await startSampleApp();
  sampleUrl = `http://127.0.0.1:${(sample.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close();
  await sample?.close();
});

const expectedCsp = Object.entries(DOCS_CSP)
  .map(([directive, value]) => `${directive} ${value};`)
  .join(' ');

describe('over HTTP, on the real app', () => {
  it('serves the page as HTML under a CSP that allows only this server, with the app headers', async () => {
    const response = await fetch(`${t.url}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html\b/);
    expect(response.headers.get('content-security-policy')).toBe(expectedCsp);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    expect(html).toContain('<title>Warble API reference</title>');
    expect(html).toContain('id="swagger-ui"');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves every script, stylesheet and icon the page names from here, with its own content type', async () => {
    const html = await (await fetch(`${t.url}/docs`)).text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    const expected: [RegExp, RegExp][] = [
      [/\.js$/, /^(application|text)\/javascript\b/],
      [/\.css$/, /^text\/css\b/],
      [/\.png$/, /^image\/png$/],
    ];
    expect(assets.filter((asset) => asset.endsWith('.js'))).toHaveLength(3);
    expect(assets.filter((asset) => asset.endsWith('.css'))).toHaveLength(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/docs\/static\//);
      const response = await fetch(`${t.url}${asset}`);
      expect(response.status, asset).toBe(200);
      // nosniff (on every answer of the app): the browser runs a script or applies a stylesheet
      // only if its Content-Type says it is one.
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const type = expected.find(([name]) => name.test(asset))?.[1];
      expect(type, asset).toBeDefined();
      expect(response.headers.get('content-type'), asset).toMatch(type!);
      await response.arrayBuffer();
    }
  });

  it('gives the page the document of /openapi.json', async () => {
    const [page, published] = await Promise.all([fetch(`${t.url}/docs/json`), fetch(`${t.url}/openapi.json`)]);
    expect(page.status).toBe(200);
    const document = await page.json();
    expect(document).toEqual(await published.json());
    // Relative: "Try it out" calls the server that serves the page.
    expect(document).toMatchObject({ openapi: expect.stringMatching(/^3\.1\./), servers: [{ url: '/api' }] });
  });

  it('adds nothing to the rest of the app: no /documentation routes, no CSP elsewhere', async () => {
    for (const path of ['/documentation', '/documentation/json', '/documentation/static/index.html']) {
      const response = await fetch(`${t.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ error: { data: { code: 'NOT_FOUND' } } });
    }
    const health = await fetch(`${t.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('content-security-policy')).toBeNull();
    expect(health.headers.get('cache-control')).toBe('no-store');
    // The decorator @fastify/swagger adds stays inside the page's own scope.
    expect(t.app.hasDecorator('swagger')).toBe(false);
  });
});

describe('in Chromium, with every other origin blocked', () => {
  let context: BrowserContext;
  let page: Page;
  /** Where the page's requests go: the sample app or the real one. */
  let target: string;
  /**
   * Requests to any origin but the page's: refused before they leave the browser, or already
   * refused by the page's CSP (reported by the page's `securitypolicyviolation` events).
   */
  let outside: string[];
  /** Console errors and warnings, uncaught errors, failed requests, error answers, CSP violations. */
  let problems: string[];
  /** Requests the page made to its server, as "METHOD /path". */
  let served: string[];

  beforeAll(async () => {
    browser = await launchChromium();
  }, SLOW);

  beforeEach(async () => {
    outside = [];
    problems = [];
    served = [];
    context = await browser!.newContext();
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.origin !== PAGE_ORIGIN) {
        outside.push(url.href);
        return route.abort('blockedbyclient');
      }
      served.push(`${route.request().method()} ${url.pathname}`);
      return route.fulfill({ response: await route.fetch({ url: `${target}${url.pathname}${url.search}` }) });
    });
    await context.exposeFunction('reportViolation', (directive: string, blocked: string) => {
      problems.push(`CSP ${directive}: ${blocked}`);
      if (/^(https?|wss?):/.test(blocked) && new URL(blocked).origin !== PAGE_ORIGIN) outside.push(blocked);
    });
    // A string: this runs in the page, and the tests are type-checked without the DOM's types.
    await context.addInitScript(`document.addEventListener('securitypolicyviolation', (event) =>
      window.reportViolation(event.violatedDirective, event.blockedURI));`);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`answer: ${response.status()} ${response.url()}`);
    });
  });

  afterEach(async () => {
    await context.close();
  });

  /** The operation's block (summary, and once opened its "Try it out"). */
  const operation = (method: string, path: string) =>
    page.locator(`.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

  /** Authorize with `token`, then call the operation with "Try it out"; its answer's row. */
  async function tryItOut(block: ReturnType<typeof operation>, token: string) {
    await page.locator('.btn.authorize').click();
    await page.locator('.modal-ux input').first().fill(token);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();
    await block.locator('.opblock-summary').click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    await block.getByRole('button', { name: 'Execute' }).click();
    const answer = block.locator('.live-responses-table tr.response');
    await expect.poll(() => answer.locator('.response-col_status').textContent(), WAIT).toMatch(/^\d{3}$/);
    return {
      status: await answer.locator('.response-col_status').textContent(),
      body: await answer.locator('.response-col_description').textContent(),
      requestUrl: await block.locator('.request-url').textContent(),
    };
  }

  it(
    'shows every operation of the sample, its schemas and the bearer scheme, loading nothing from outside',
    async () => {
      target = sampleUrl;
      const response = await page.goto(`${PAGE_ORIGIN}/docs`);
      expect(response?.status()).toBe(200);
      const operations = [
        ['get', '/healthz'],
        ['get', '/sample/me'],
        ['post', '/sample/posts'],
        ['get', '/sample/users/{username}'],
      ] as const;
      for (const [method, path] of operations) {
        await expect.poll(() => operation(method, path).isVisible(), WAIT).toBe(true);
      }
      expect(await page.getByText('Warble sample API').first().isVisible()).toBe(true);
      expect(await page.getByText('Publish a post').isVisible()).toBe(true);
      expect(await page.locator('.btn.authorize').isVisible()).toBe(true);
      expect(await page.locator('section.models').textContent()).toMatch(/Error.*Profile/);
      await page.waitForLoadState('networkidle');
      expect(served).toEqual(expect.arrayContaining(['GET /docs', 'GET /docs/json']));
      expect(outside).toEqual([]);
      expect(problems).toEqual([]);
    },
    SLOW,
  );

  it(
    '"Try it out" calls the page\'s own server, with the bearer token given to "Authorize"',
    async () => {
      target = sampleUrl;
      await page.goto(`${PAGE_ORIGIN}/docs`);
      const me = operation('get', '/sample/me');
      await expect.poll(() => me.isVisible(), WAIT).toBe(true);
      const answer = await tryItOut(me, TOKEN);
      expect(answer.status).toBe('200');
      expect(answer.body).toContain('"username": "ada"');
      // On the page's own origin (the document's server is "/").
      expect(answer.requestUrl).toContain(`${PAGE_ORIGIN}/sample/me`);
      expect(served).toContain('GET /sample/me');
      expect(outside).toEqual([]);
      expect(problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'on the real app: shows the REST routes, and "Try it out" calls them with a real token',
    async () => {
      const { user, tokens } = await signupAndLogin(t.url);
      target = t.url;
      await page.goto(`${PAGE_ORIGIN}/docs`);
      for (const [method, path] of [
        ['post', '/auth/signup'],
        ['get', '/posts/{id}'],
        ['put', '/users/{username}/follow'],
      ] as const) {
        await expect.poll(() => operation(method, path).isVisible(), WAIT).toBe(true);
      }
      const answer = await tryItOut(operation('get', '/me'), tokens.accessToken);
      expect(answer.status).toBe('200');
      expect(answer.body).toContain(`"username": "${user.username}"`);
      expect(answer.requestUrl).toContain(`${PAGE_ORIGIN}/api/me`);
      expect(served).toContain('GET /api/me');
      expect(outside).toEqual([]);
      expect(problems).toEqual([]);
    },
    SLOW,
  );
});
