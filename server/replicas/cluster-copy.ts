// The file copy of a running cluster that seeds an embedded replica (embedded-replica.ts), as
// pg_basebackup would make it between pg_backup_start() and pg_backup_stop(): runtime state left
// out, pg_control copied last.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunAs } from '../embedded-postgres-host.ts';

// What pg_basebackup leaves out: runtime state that is rebuilt at start, and what the standby
// gets from the slot (pg_wal).
const EMPTY_DIRS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
  'log',
  'pg_log',
]);
const SKIPPED_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'standby.signal',
  'recovery.signal',
  'current_logfiles',
  'current_logfiles.tmp',
  'postgresql.auto.conf.tmp',
  'pg_internal.init',
]);
const COPY_CONCURRENCY = 8;

/** Copies the cluster in `from` to `to` (which must not exist) while the primary runs. */
export async function copyCluster(from: string, to: string, runAs: RunAs | undefined): Promise<void> {
  const files: [string, string][] = [];
  const own = (target: string) => (runAs ? fs.lchown(target, runAs.uid, runAs.gid) : undefined);
  const makeDir = async (dir: string) => {
    await fs.mkdir(dir, { mode: 0o700 });
    await own(dir);
  };
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(path.join(from, rel), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // dropped during the copy
      throw error;
    }
    for (const entry of entries) {
      const name = path.join(rel, entry.name);
      if (entry.isDirectory() || (rel === '' && entry.name === 'pg_wal')) {
        if (entry.name.startsWith('pgsql_tmp')) continue;
        await makeDir(path.join(to, name));
        if (rel === '' && EMPTY_DIRS.has(entry.name)) continue;
        await walk(name);
      } else if (entry.isSymbolicLink()) {
        const target = path.join(to, name);
        await fs.symlink(await fs.readlink(path.join(from, name)), target);
        await own(target);
      } else if (!SKIPPED_FILES.has(entry.name) && !entry.name.startsWith('pgsql_tmp')) {
        files.push([path.join(from, name), path.join(to, name)]);
      }
    }
  };
  await makeDir(to);
  await walk('');
  for (const dir of ['archive_status', 'summaries']) await makeDir(path.join(to, 'pg_wal', dir));
  const copyOne = async ([source, target]: [string, string]) => {
    try {
      await fs.copyFile(source, target); // keeps the mode (0600)
      await own(target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // else dropped meanwhile
    }
  };
  // pg_control last, as pg_basebackup does: the files before it may be torn, recovery from
  // backup_label repairs them.
  const control = path.join(from, 'global', 'pg_control');
  const rest = files.filter(([source]) => source !== control);
  let next = 0;
  const worker = async () => {
    while (next < rest.length) await copyOne(rest[next++]!);
  };
  await Promise.all(Array.from({ length: COPY_CONCURRENCY }, worker));
  await copyOne([control, path.join(to, 'global', 'pg_control')]);
}
