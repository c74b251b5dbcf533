// Runs inside the worker threads of passwords.ts. Each thread first takes the lowest CPU priority
// there is, so that hashing runs on CPU time that request handling leaves idle: a login storm
// then queues logins instead of slowing every other call (docs/benchmarks.md, "login storm").
// The price: while other work keeps the cores fully busy, logins wait.
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import bcrypt from 'bcrypt';

// Linux only: there a nice value and a scheduling policy belong to a thread, and pid 0 means the
// calling one. Elsewhere they would lower the whole server's priority, so threads keep the default.
if (process.platform === 'linux') {
  setPriority(0, 19);
  // SCHED_IDLE (below nice 19: a waking request thread always preempts it). Node has no call for
  // it; util-linux's chrt sets it by thread id. Without chrt, nice 19 stays.
  const threadId = readlinkSync('/proc/thread-self').split('/').at(-1);
  if (threadId) spawnSync('chrt', ['--idle', '--pid', '0', threadId], { stdio: 'ignore' });
}

export type PasswordTask =
  { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

export default function run(task: PasswordTask): string | boolean {
  return task.op === 'hash' ? bcrypt.hashSync(task.password, task.cost) : bcrypt.compareSync(task.password, task.hash);
}
