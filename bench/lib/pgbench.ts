// PostgreSQL alone, for the same work: pgbench replays the timeline's own statements (recorded
// from the app by bench/lib/timeline-sql.ts, parameters inlined) for the same users, one script
// per user picked at random per transaction, with pgbench as the client instead of Warble. The
// statements go as the app sends them: planned on every call (the ORM's queries), or prepared once
// per connection (the home read is a named statement: server/timelines/home-read.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface PgbenchResult {
  tps: number;
  latencyAvgMs: number;
  transactions: number;
  failed: number;
}

export interface Pgbench {
  path: string;
  version: string;
  /** Runs every script (one per user) with `clients` connections for the duration. */
  run(clients: number, durationSeconds: number): Promise<PgbenchResult>;
  dispose(): Promise<void>;
}

/** Writes one script per user; each holds that user's statements in order, one transaction. */
export async function preparePgbench(
  executable: string,
  databaseUrl: string,
  scripts: string[][],
  { prepared = false } = {},
): Promise<Pgbench> {
  const versionRun = spawnSync(executable, ['--version'], { encoding: 'utf8' });
  const version = versionRun.stdout.trim() || 'unknown';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'warble-pgbench-'));
  const files: string[] = [];
  for (const [i, statements] of scripts.entries()) {
    const file = path.join(dir, `user-${i}.sql`);
    // pgbench ends a SQL command at its semicolon; a statement may span lines.
    await writeFile(file, statements.map((sql) => `${sql.trim().replace(/;+$/, '')};\n`).join(''));
    files.push(file);
  }
  const url = new URL(databaseUrl);
  // The password goes through the environment, not the command line (visible to `ps`).
  const env = { LC_ALL: 'C', PGPASSWORD: decodeURIComponent(url.password), PGAPPNAME: 'warble-bench-pgbench' };
  const connection = [
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username),
    decodeURIComponent(url.pathname.slice(1)),
  ];

  return {
    path: executable,
    version,
    async run(clients, durationSeconds) {
      const args = ['-n', '-c', String(clients), '-j', '1', '-T', String(durationSeconds)];
      if (prepared) args.push('-M', 'prepared');
      for (const file of files) args.push('-f', `${file}@1`);
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn(executable, [...args, ...connection], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0 ? resolve(text) : reject(new Error(`pgbench exited with ${code}:\n${text.slice(-2000)}`)),
        );
      });
      const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? NaN);
      const result = {
        tps: number(/^tps = ([\d.]+)/m),
        latencyAvgMs: number(/^latency average = ([\d.]+) ms/m),
        transactions: number(/^number of transactions actually processed: (\d+)/m),
        failed: number(/^number of failed transactions: (\d+)/m) || 0,
      };
      if (!Number.isFinite(result.tps)) throw new Error(`could not read pgbench's output:\n${output.slice(-2000)}`);
      return result;
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
