// Runs inside the worker threads of passwords.ts. Each thread lowers its own CPU priority first:
// a login storm then uses the cores the requests leave idle instead of competing with them, so
// other requests keep their latency while hashes queue.
import { setPriority } from 'node:os';
import bcrypt from 'bcrypt';

// On Linux a nice value belongs to a thread, and pid 0 means the calling one. Elsewhere it would
// lower the whole server's priority, so there the threads keep the default.
// 19 is the lowest: hashing then runs almost only on CPU time nothing else wants.
const LOWER_PRIORITY_BY = 19;
if (process.platform === 'linux') setPriority(0, LOWER_PRIORITY_BY);

export type PasswordTask =
  { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

export default function run(task: PasswordTask): string | boolean {
  return task.op === 'hash' ? bcrypt.hashSync(task.password, task.cost) : bcrypt.compareSync(task.password, task.hash);
}
