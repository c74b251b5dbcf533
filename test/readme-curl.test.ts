// The README's curl walkthrough, run exactly as a newcomer pastes it: the block after
// `<!-- walkthrough -->`, in bash with -euo pipefail, against a running app. It must set every
// variable it uses, need no tool beyond curl and sed, and show each step working.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEnv } from '../server/env.ts';
import { useTestApp } from './helpers/app.ts';
import { PASSWORD } from './helpers/auth.ts';
import { mutate, query } from './helpers/trpc.ts';

const README = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');

function walkthrough(): string {
  const block = /<!-- walkthrough -->\s*\n```sh\n([\s\S]*?)\n```/.exec(README)?.[1];
  if (!block) throw new Error('README.md has no ```sh block after <!-- walkthrough -->');
  return block;
}

/** Runs `script` as `bash -euo pipefail`, with `API` set (env(1) adds it to what this process has). */
function runBash(script: string, api: string) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('env', [`API=${api}`, 'bash', '-euo', 'pipefail', '-c', script]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface Post {
  id: string;
  body: string;
  author: { username: string };
}

describe('README: Try it with curl', () => {
  const t = useTestApp();

  it('points at the address `npm start` serves by default, and needs no jq', () => {
    const defaults = parseEnv({});
    expect(defaults.ok).toBe(true);
    const env = defaults.ok ? defaults.env : undefined;
    expect(walkthrough().split('\n')[0]).toBe(`API=\${API:-http://${env?.HOST}:${env?.PORT}/trpc}`);
    expect(walkthrough()).not.toMatch(/\bjq\b/);
  });

  it('runs as pasted: signs up, logs in, posts, reads it back, refreshes and logs out', async () => {
    const run = await runBash(walkthrough(), `${t.url}/trpc`);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);

    const lines = run.stdout.trim().split('\n');
    const answers = lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { result?: { data: Record<string, unknown> }; error?: unknown });
    expect(answers.filter((answer) => answer.error)).toEqual([]);
    const data = answers.map((answer) => answer.result!.data);

    const post = data.find((d) => 'body' in d) as unknown as Post;
    expect(post.body).toBe('Hello, Warble!');
    const username = post.author.username;
    // The post comes back in the caller's timeline.
    const timeline = data.find((d) => 'items' in d) as { items: Post[] };
    expect(timeline.items.map((item) => item.id)).toContain(post.id);
    // The profile counts it, and the logout succeeded.
    expect(data).toContainEqual(expect.objectContaining({ username, postsCount: 1 }));
    expect(data).toContainEqual({ ok: true });
    // After the logout, the access token of that session is refused.
    expect(lines.at(-1)).toBe('401');

    // What the walkthrough did is there for anyone to see: the account works, the post is public.
    const login = await mutate(t.url, 'auth.login', { username, password: PASSWORD });
    expect(login.error).toBeUndefined();
    const posts = await query<{ items: Post[] }>(t.url, 'posts.byUser', { username });
    expect(posts.data?.items.map((item) => item.body)).toEqual(['Hello, Warble!']);
  });

  it('can run again: each run makes a new user', async () => {
    const first = await runBash(walkthrough(), `${t.url}/trpc`);
    const second = await runBash(walkthrough(), `${t.url}/trpc`);
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(second.stderr).toBe('');
  });
});
