// What a result was measured on and with: machine, versions and the exact source (git SHA and
// whether the working tree had uncommitted changes), so that two results can be compared.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..', '..');
const PACKAGES = ['fastify', '@trpc/server', '@mikro-orm/core', 'pg', 'bcrypt', 'autocannon'];

export interface Meta {
  machine: { cpuModel: string; cpus: number; availableParallelism: number; memoryGB: number; os: string };
  versions: Record<string, string>;
  git: { sha: string | null; dirty: boolean | null; changedFiles: number | null };
}

function versionIn(file: string): string {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      version?: string;
    };
    return json.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function git(args: string[]): string | null {
  const result = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return result.status === 0 ? result.stdout : null;
}

export function collectMeta(postgresVersion: string): Meta {
  const cpus = os.cpus();
  // Without optional locks: this must never get in the way of someone committing at the same time.
  const status = git(['--no-optional-locks', 'status', '--porcelain']);
  const changed = status === null ? null : status.split('\n').filter(Boolean).length;
  return {
    machine: {
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      cpus: cpus.length,
      availableParallelism: os.availableParallelism(),
      memoryGB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
    },
    versions: {
      node: process.versions.node,
      postgresql: postgresVersion,
      warble: versionIn(path.join(ROOT, 'package.json')),
      ...Object.fromEntries(
        PACKAGES.map((name) => [name, versionIn(path.join(ROOT, 'node_modules', name, 'package.json'))]),
      ),
    },
    git: {
      sha: git(['rev-parse', 'HEAD'])?.trim() ?? null,
      dirty: changed === null ? null : changed > 0,
      changedFiles: changed,
    },
  };
}
