// The SDK as a consumer gets it: `npm pack`, installed alone into an empty project with only
// @trpc/client (and its peer @trpc/server) beside it, no server source anywhere.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';

const ROOT = path.join(import.meta.dirname, '..');
const TRPC_VERSION = '11.25.2';

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Like run(), without blocking this process: needed when the child talks to the app running here. */
function runAsync(command: string, args: string[], cwd: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, output }));
  });
}

// Typed calls that must compile, and wrong ones that must not: each @ts-expect-error fails the
// compile if its line is accepted, so an SDK whose types degrade to `any` fails this test.
const CONSUMER = `
import { createWarbleClient, memoryTokenStore, type RouterInputs, type RouterOutputs, type TokenStore } from '@warble/client';

const tokens: TokenStore = memoryTokenStore();
const client = createWarbleClient({ url: 'http://127.0.0.1:3000/trpc', tokens });

export async function typedCalls(): Promise<void> {
  const session = await client.auth.login.mutate({ username: 'ada', password: 'correct horse' });
  const accessToken: string = session.accessToken;
  const bearer: 'Bearer' = session.tokenType;
  const page = await client.posts.timeline.query({ limit: 5 });
  const author: string | undefined = page.items[0]?.author.username;
  const next: string | null = page.nextCursor;
  const profile: RouterOutputs['users']['profile'] = await client.users.profile.query({ username: 'ada' });
  const followers: number = profile.followersCount;
  const input: RouterInputs['posts']['create'] = { body: 'hello' };
  const created = await client.posts.create.mutate(input);
  const deleted: { id: string; deletedAt: string } = await client.posts.delete.mutate({ id: created.id });
  void [accessToken, bearer, author, next, followers, deleted];

  // @ts-expect-error: posts.create takes { body }, not { text }
  await client.posts.create.mutate({ text: 'hello' });
  // @ts-expect-error: followersCount is a number, not a string
  const wrongType: string = profile.followersCount;
  // @ts-expect-error: there is no posts.edit procedure
  await client.posts.edit.mutate({ id: created.id });
  // @ts-expect-error: a query cannot be called as a mutation
  await client.posts.timeline.mutate({ limit: 5 });
  // @ts-expect-error: limit is a number
  await client.posts.timeline.query({ limit: 'five' });
  void wrongType;
}
`;

// The built JavaScript, run by Node against a real server.
const RUNTIME = `
import { createWarbleClient } from '@warble/client';
const [url, username] = process.argv.slice(2);
const client = createWarbleClient({ url });
await client.auth.signup.mutate({ username, password: 'correct horse battery' });
await client.auth.login.mutate({ username, password: 'correct horse battery' });
const me = await client.auth.me.query();
console.log(JSON.stringify(me));
`;

describe('the packed @warble/client', () => {
  const t = useTestApp();
  let project: string;

  beforeAll(async () => {
    project = await mkdtemp(path.join(os.tmpdir(), 'warble-consumer-'));
    const packed = run('npm', ['pack', '--pack-destination', project, '--silent'], path.join(ROOT, 'client-sdk'));
    expect(packed.status, packed.output).toBe(0);
    const tarball = (await readdir(project)).find((file) => file.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    await writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    const installed = run(
      'npm',
      [
        'install',
        `./${tarball}`,
        `@trpc/client@${TRPC_VERSION}`,
        `@trpc/server@${TRPC_VERSION}`,
        'typescript@6.0.3',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
      ],
      project,
    );
    expect(installed.status, installed.output).toBe(0);
  }, 180_000);

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it('ships built JavaScript and one bundled declaration file, and nothing of the server', async () => {
    const files = await readdir(path.join(project, 'node_modules', '@warble', 'client', 'dist'));
    expect(files.sort()).toEqual(['index.d.ts', 'index.js']);
  });

  it('type-checks typed calls and rejects wrong ones, with library checks on', async () => {
    await writeFile(path.join(project, 'consumer.ts'), CONSUMER);
    await writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          // tRPC's own declarations use Disposable (esnext); fetch's types come from dom.
          lib: ['esnext', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          skipLibCheck: false,
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    const checked = run(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
    expect(checked.output).toBe('');
    expect(checked.status).toBe(0);
  });

  it('runs against a real server', async () => {
    await writeFile(path.join(project, 'run.mjs'), RUNTIME);
    const username = `pkg_${Date.now().toString(36)}`;
    const ran = await runAsync(process.execPath, ['run.mjs', `${t.url}/trpc`, username], project);
    expect(ran.status, ran.output).toBe(0);
    expect(JSON.parse(ran.output)).toMatchObject({ username, followersCount: 0 });
  });
});

describe('client-sdk/src/app-router.ts', () => {
  it('matches the server’s procedures (regenerate with `npm run sdk:types`)', () => {
    const checked = run(process.execPath, ['client-sdk/scripts/generate-router-types.ts', '--check'], ROOT);
    expect(checked.output).toBe('');
    expect(checked.status).toBe(0);
  });
});
