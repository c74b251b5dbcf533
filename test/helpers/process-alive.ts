/** Whether a process (or, with a negative pid, a process group) still exists: signal 0 only asks. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
