// The reference pages stay complete as the code grows: a procedure added to a router, or a setting
// added to server/env.ts, fails here until docs/api.md or docs/configuration.md describes it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../server/env.ts';
import { appRouter } from '../server/trpc/router.ts';

const ROOT = path.join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The code spans of a Markdown text, as written between the backticks. */
function codeSpans(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/`([^`\n]+)`/g)].map((match) => match[1]!.trim()));
}

interface OpenApiMeta {
  openapi?: { method: string; path: string };
}

// At run time `_def.procedures` is flat, keyed by the full path ("auth.login"); its type is nested.
const procedures = Object.entries(
  appRouter._def.procedures as unknown as Record<string, { _def: { meta?: OpenApiMeta } }>,
);

describe('docs/api.md', () => {
  const page = read('docs/api.md');

  it('walks the whole router (the check below is not vacuous)', () => {
    const paths = procedures.map(([name]) => name);
    expect(paths).toEqual(expect.arrayContaining(['auth.login', 'posts.create', 'posts.onTimeline', 'users.profile']));
  });

  it('names every procedure of the app router as `path`', () => {
    const named = codeSpans(page);
    const missing = procedures.map(([name]) => name).filter((name) => !named.has(name));
    expect(missing, `procedures missing from docs/api.md: ${missing.join(', ')}`).toEqual([]);
  });

  it('names the REST route of every procedure that has one: its method and path on one line', () => {
    const lines = page.split('\n');
    // trpc-to-openapi's meta path is relative to the REST base, /api. `GET|DELETE /api/posts/{id}`
    // counts for both methods; `/api/me` is not found inside `/api/me/sessions`.
    const documented = (method: string, route: string) => {
      const exactPath = new RegExp(`${route.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w/{-])`);
      const verb = new RegExp(`\\b${method.toUpperCase()}\\b`);
      return lines.some((line) => exactPath.test(line) && verb.test(line));
    };
    const missing = procedures
      .map(([, procedure]) => procedure._def.meta?.openapi)
      .filter((route): route is NonNullable<OpenApiMeta['openapi']> => route !== undefined)
      .map((route) => ({
        method: route.method,
        path: route.path.startsWith('/api/') ? route.path : `/api${route.path}`,
      }))
      .filter((route) => !documented(route.method, route.path))
      .map((route) => `${route.method} ${route.path}`);
    expect(missing, `REST routes missing from docs/api.md: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it('describes every setting server/env.ts reads', () => {
    const named = [...codeSpans(read('docs/configuration.md'))].flatMap((span) => span.split(/[\s,/]+/));
    const settings = Object.keys(envSchema.shape);
    expect(settings.length).toBeGreaterThan(20);
    const missing = settings.filter((setting) => !named.includes(setting));
    expect(missing, `settings missing from docs/configuration.md: ${missing.join(', ')}`).toEqual([]);
  });
});
