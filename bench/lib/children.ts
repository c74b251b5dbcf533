// The servers under test run as child processes, started once and kept for the whole run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pinning } from './cpu.ts';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const MAX_FORWARDED_LINES = 20;
const OUTPUT_KEPT = 8000;

export const SERVERS_DIR = path.join(import.meta.dirname, '..', 'servers');

export interface ServerChild {
  name: string;
  pid: number;
  origin: string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: string;
  script: string;
  port: number;
  /** Exactly the child's environment: nothing of ours is inherited. */
  env: Record<string, string>;
  /** Answers 200 once the server can take load. */
  readyPath: string;
  /** taskset -c list to run on instead of the server cores. */
  cores?: string | null;
}

/** Starts a server pinned to the server cores (or `spec.cores`) and resolves once `readyPath` answers 200. */
export async function startServer(spec: ServerSpec, pinning: Pinning): Promise<ServerChild> {
  const script = path.join(SERVERS_DIR, spec.script);
  const args = [script, '--port', String(spec.port)];
  // taskset execs node, so the child's pid is the server's pid (RSS is sampled by pid).
  const cores = spec.cores ?? pinning.serverCores;
  const child =
    pinning.taskset && cores
      ? spawn(pinning.taskset, ['-c', cores, process.execPath, ...args], spawnOptions(spec))
      : spawn(process.execPath, args, spawnOptions(spec));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = forwardOutput(child, spec.name);
  const origin = `http://127.0.0.1:${spec.port}`;

  const started = performance.now();
  let ready = false;
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${spec.name} exited (code ${child.exitCode}) before it was ready:\n${output()}`);
    }
    if (performance.now() - started > READY_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`${spec.name} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output()}`);
    }
    ready = await fetch(`${origin}${spec.readyPath}`).then(
      (response) => response.ok,
      () => false,
    );
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    name: spec.name,
    pid: child.pid!,
    origin,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function spawnOptions(spec: ServerSpec) {
  return { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };
}

/** Shows the first lines a server writes (warnings, errors) on our stderr; keeps the tail for errors. */
function forwardOutput(child: ChildProcess, name: string): () => string {
  let kept = '';
  let forwarded = 0;
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    kept = (kept + text).slice(-OUTPUT_KEPT);
    for (const line of text.split('\n')) {
      if (!line.trim() || line.startsWith('listening on ')) continue;
      if (forwarded < MAX_FORWARDED_LINES) process.stderr.write(`[${name}] ${line.slice(0, 500)}\n`);
      else if (forwarded === MAX_FORWARDED_LINES) process.stderr.write(`[${name}] (further output not shown)\n`);
      forwarded++;
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return () => kept;
}

/** Resident set size of a process in bytes, or undefined when it cannot be read (not Linux). */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `intervalMs`, keeping the maximum per label (the target running). */
export class RssSampler {
  readonly maxByLabel = new Map<string, number>();
  label = 'start';
  private readonly timer: NodeJS.Timeout;
  private readonly pid: number;

  constructor(pid: number, intervalMs = 250) {
    this.pid = pid;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = rssBytes(this.pid);
    if (rss === undefined) return;
    this.maxByLabel.set(this.label, Math.max(rss, this.maxByLabel.get(this.label) ?? 0));
  }

  get max(): number | undefined {
    return this.maxByLabel.size ? Math.max(...this.maxByLabel.values()) : undefined;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** CPU seconds (user + system, all threads) a process has used, from /proc; NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100/s).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function procStat(pid: number | string) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state, ppid, ... utime (12th), stime, cutime, cstime; in clock ticks (100/s).
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    const n = (i: number) => Number(fields[i]) / 100;
    return {
      comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
      ppid: Number(fields[1]),
      own: n(11) + n(12),
      children: n(13) + n(14),
    };
  } catch {
    return undefined;
  }
}

/** The postmaster's pid, from one of its backends' (pg_backend_pid()); null when not on this machine. */
export function postmasterOf(backendPid: number): number | null {
  const backend = procStat(backendPid);
  return backend?.comm === 'postgres' ? backend.ppid : null;
}

/**
 * CPU seconds (user + system) a PostgreSQL server has used: its postmaster, the children that have
 * exited (cutime, cstime: connections closed) and those that run (backends, background workers).
 * NaN without /proc.
 */
export function postgresCpuSeconds(postmaster: number | null): number {
  const main = postmaster === null ? undefined : procStat(postmaster);
  if (!main) return NaN;
  let total = main.own + main.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = procStat(entry);
    if (child && child.ppid === postmaster) total += child.own;
  }
  return total;
}
