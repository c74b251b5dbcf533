// Which cores the servers get and which the load generator gets. Servers (and the embedded
// PostgreSQL, which is part of the server side) share the first half of the cores this process
// may use, the load generator (this process, autocannon, pgbench) the rest, so that the two never
// compete for a core. Without taskset, or with a single core, nothing is pinned and we say so.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export interface Pinning {
  /** Absolute path of taskset, or null when it is missing or pinning is not possible. */
  taskset: string | null;
  /** taskset -c lists, e.g. "0" and "1"; null when not pinned. */
  serverCores: string | null;
  loadCores: string | null;
  /** How many cores the servers may use: the parallelism a Warble process sees. */
  serverCoreCount: number;
  note: string;
}

/** `which`, without reading PATH ourselves: the shell inherits this process's environment. */
export function findExecutable(name: string): string | null {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = result.status === 0 ? result.stdout.trim() : '';
  return found.startsWith('/') ? found : null;
}

/** "0-2,5" -> [0, 1, 2, 5] */
export function parseCpuList(list: string): number[] {
  return list
    .split(',')
    .filter(Boolean)
    .flatMap((part) => {
      const [from, to = from] = part.split('-').map(Number);
      if (from === undefined || to === undefined || !Number.isInteger(from) || !Number.isInteger(to)) return [];
      return Array.from({ length: to - from + 1 }, (_, i) => from + i);
    });
}

function currentCpus(taskset: string): number[] {
  const result = spawnSync(taskset, ['-cp', String(process.pid)], { encoding: 'utf8' });
  const list = /:\s*([\d,-]+)\s*$/.exec(result.stdout)?.[1];
  return list ? parseCpuList(list) : [];
}

export function planPinning(): Pinning {
  const available = os.availableParallelism();
  const unpinned = (note: string): Pinning => ({
    taskset: null,
    serverCores: null,
    loadCores: null,
    serverCoreCount: available,
    note,
  });
  if (process.platform !== 'linux') return unpinned(`not pinned: taskset is Linux only (${process.platform})`);
  const taskset = findExecutable('taskset');
  if (!taskset) return unpinned('not pinned: taskset is not installed (util-linux); servers and load share all cores');
  const cpus = currentCpus(taskset);
  if (cpus.length < 2) return unpinned(`not pinned: only ${cpus.length || available} core(s) available`);
  const serverCount = Math.ceil(cpus.length / 2);
  const serverCores = cpus.slice(0, serverCount).join(',');
  const loadCores = cpus.slice(serverCount).join(',');
  return {
    taskset,
    serverCores,
    loadCores,
    serverCoreCount: serverCount,
    note: `servers and PostgreSQL on core(s) ${serverCores}, load generator on core(s) ${loadCores}`,
  };
}

/** Moves every thread of this process (and so the children it starts later) to `cores`. */
export function pinSelf(pinning: Pinning, cores: string | null): void {
  if (!pinning.taskset || !cores) return;
  const result = spawnSync(pinning.taskset, ['-a', '-cp', cores, String(process.pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`taskset -a -cp ${cores} failed: ${result.stderr.trim()}`);
}
