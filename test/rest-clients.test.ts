// Clients that are not the TypeScript SDK, against the REST API (contract: "Open to every client").
// Python with its standard library only (test/clients/warble_flow.py) runs the whole flow; and a
// client generated from GET /openapi.json (openapi-typescript's CLI + openapi-fetch) type-checks
// under strict settings, refuses wrong calls, and runs. Nothing generated is kept in the repository.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
import { call } from './helpers/rest-calls.ts';

const ROOT = path.join(import.meta.dirname, '..');
const PYTHON_FLOW = path.join(import.meta.dirname, 'clients', 'warble_flow.py');
const OPENAPI_TYPESCRIPT = path.join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end without blocking this process (the app it calls runs here). */
function run(command: string, args: string[], options: { cwd?: string; timeout: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, timeout: options.timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/**
 * The Python flow against `baseUrl`. `-I -S`: isolated, and without the `site` module, so no
 * installed package (requests, …) is importable: the script passes only on the standard library.
 */
async function runPythonFlow(baseUrl: string): Promise<Run> {
  try {
    return await run('python3', ['-I', '-S', PYTHON_FLOW, baseUrl], { timeout: 90_000 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error('python3 is not on PATH: this test runs test/clients/warble_flow.py with it. Install Python 3.', {
      cause: error,
    });
  }
}

const t = useTestApp();

describe('a Python client (urllib, standard library only)', () => {
  it('runs the whole flow over REST, one line per step', async () => {
    const result = await runPythonFlow(t.url);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);

    const lines = result.stdout.trim().split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      ...['ok signup', 'ok signup', 'ok login', 'ok login', 'ok post', 'ok follow'],
      ...['ok timeline page 1', 'ok timeline page 2', 'ok profile', 'ok delete', 'ok restore'],
      ...['ok refresh', 'ok logout', 'ok invalid input', 'done'],
    ]);
    const ada = /^ok signup: (ada_[0-9a-f]+) /.exec(lines[0]!)?.[1];
    const bob = /^ok signup: (bob_[0-9a-f]+) /.exec(lines[1]!)?.[1];
    expect(lines).toEqual(
      expect.arrayContaining([
        `ok follow: ${bob} follows ${ada}`,
        expect.stringMatching(/^ok timeline page 1: 2 posts, then cursor \S+$/),
        'ok timeline page 2: 1 post, the last page',
        `ok profile: ${ada} has 1 follower, 3 posts`,
        `ok refresh: new tokens, GET /me answers ${bob}`,
        'ok logout: the refresh token is refused (401 UNAUTHORIZED)',
        "ok invalid input: 400 BAD_REQUEST, issues at [['body']]",
      ]),
    );

    // It happened on this server: Ada's three posts, the deleted one restored, one follower.
    expect((await call(t.url, 'GET', `/users/${ada}`)).body).toMatchObject({ postsCount: 3, followersCount: 1 });
    const posts = await call<{ items: { body: string }[] }>(t.url, 'GET', `/users/${ada}/posts`);
    expect(posts.body.items.map((post) => post.body)).toEqual(['Third post', 'Second post', 'First post from Python']);
  }, 120_000);

  it('stops at the first surprise with a non-zero exit, the status and the body', async () => {
    // Under this prefix there are no REST routes: the first call, the signup, answers 404.
    const result = await runPythonFlow(`${t.url}/elsewhere`);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^FAILED signup: expected 200, got 404 with body .*NOT_FOUND/);
  }, 120_000);
});

// A consumer of the generated types, compiled with tsc and then run by Node (which strips the
// types). Each @ts-expect-error fails the compile if its line is accepted, so types that degrade to
// `any` fail this test; the wrong calls sit in a function that is never called.
const CONSUMER = `
import createClient from 'openapi-fetch';
import type { components, paths } from './warble-api.ts';

type RestError = components['schemas']['Error'];

const server = process.argv[2] ?? 'http://127.0.0.1:3000';
// The document's paths are relative to its servers entry ("/api"): the base URL carries the prefix.
const client = createClient<paths>({ baseUrl: \`\${server}/api\` });
const password = 'correct horse battery';
const bearer = (token: string) => ({ authorization: \`Bearer \${token}\` });

async function account(username: string): Promise<string> {
  await client.POST('/auth/signup', { body: { username, password } });
  const { data, error } = await client.POST('/auth/login', { body: { username, password } });
  if (!data) throw new Error(\`login failed: \${JSON.stringify(error)}\`);
  return data.accessToken;
}

const suffix = Math.random().toString(16).slice(2, 10);
const ada = \`ada_\${suffix}\`;
const adaToken = await account(ada);
const bobToken = await account(\`bob_\${suffix}\`);

const created = await client.POST('/posts', { body: { body: '  typed hello  ' }, headers: bearer(adaToken) });
const follow = await client.PUT('/users/{username}/follow', { params: { path: { username: ada } }, headers: bearer(bobToken) });
const following: true | undefined = follow.data?.following;
const timeline = await client.GET('/timeline', { params: { query: { limit: 5 } }, headers: bearer(bobToken) });
const next: string | null | undefined = timeline.data?.nextCursor;
const profile = await client.GET('/users/{username}', { params: { path: { username: ada } } });
const followers: number | undefined = profile.data?.followersCount;
const invalid = await client.POST('/posts', { body: { body: '' }, headers: bearer(adaToken) });
const invalidError: RestError | undefined = invalid.error;
const anonymous = await client.GET('/timeline', { params: { query: { limit: 5 } } });

console.log(JSON.stringify({
  created: created.data?.body,
  following,
  timeline: timeline.data?.items.map((post) => \`\${post.author.username === ada ? 'ada' : '?'}: \${post.body}\`),
  next,
  followers,
  invalid: [invalid.response.status, invalidError?.code, invalidError?.issues?.map((issue) => issue.path)],
  anonymous: [anonymous.response.status, anonymous.error?.code],
}));

export async function wrongCalls(token: string): Promise<void> {
  // @ts-expect-error: login needs a password
  await client.POST('/auth/login', { body: { username: 'ada' } });
  // @ts-expect-error: the follow path's parameter is username, not id
  await client.PUT('/users/{username}/follow', { params: { path: { id: 'ada' } }, headers: bearer(token) });
  // @ts-expect-error: limit is a number
  await client.GET('/timeline', { params: { query: { limit: 'five' } }, headers: bearer(token) });
  // @ts-expect-error: the paths leave out the servers' /api (the baseUrl has it)
  await client.POST('/api/auth/login', { body: { username: 'ada', password } });
  // @ts-expect-error: there is no GET /posts
  await client.GET('/posts', {});
  // @ts-expect-error: a post's body is a string
  await client.POST('/posts', { body: { body: 42 }, headers: bearer(token) });
  const page = await client.GET('/timeline', { headers: bearer(token) });
  // @ts-expect-error: nextCursor is null on the last page
  const cursor: string = page.data!.nextCursor;
  // @ts-expect-error: not one of the error codes
  const unknownCode = page.error?.code === 'NOPE';
  void [cursor, unknownCode];
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2024',
    lib: ['es2024'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    // What Node runs directly: nothing but erasable type syntax.
    erasableSyntaxOnly: true,
    verbatimModuleSyntax: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    // The libraries' own .d.ts; the generated types are a .ts file, so they are checked.
    skipLibCheck: true,
  },
  files: ['consumer.ts', 'warble-api.ts'],
};

describe('a TypeScript client generated from GET /openapi.json (openapi-typescript + openapi-fetch)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'warble-openapi-client-'));
    // The repository's installed packages (openapi-fetch, @types/node), as if installed here.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    await writeFile(path.join(dir, 'consumer.ts'), CONSUMER);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('type-checks strictly, refuses wrong calls, and gets the answers the server gives', async () => {
    const generate = await run(
      process.execPath,
      [OPENAPI_TYPESCRIPT, `${t.url}/openapi.json`, '--output', path.join(dir, 'warble-api.ts')],
      { timeout: 60_000 },
    );
    expect(generate.status, generate.stderr).toBe(0);
    // The paths as the document's keys write them: without the servers entry's /api.
    const types = await readFile(path.join(dir, 'warble-api.ts'), 'utf8');
    expect(types).toContain('"/auth/login": {');
    expect(types).not.toContain('"/api/');

    const compile = await run(process.execPath, [TSC, '-p', dir], { timeout: 100_000 });
    expect(compile.stdout + compile.stderr).toBe('');
    expect(compile.status).toBe(0);

    const consumer = await run(process.execPath, [path.join(dir, 'consumer.ts'), t.url], { cwd: dir, timeout: 30_000 });
    expect(consumer.stderr).toBe('');
    expect(consumer.status).toBe(0);
    expect(JSON.parse(consumer.stdout)).toEqual({
      created: 'typed hello',
      following: true,
      timeline: ['ada: typed hello'],
      next: null,
      followers: 1,
      invalid: [400, 'BAD_REQUEST', [['body']]],
      anonymous: [401, 'UNAUTHORIZED'],
    });
  }, 120_000);
});
