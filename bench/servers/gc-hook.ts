// Imported first by the servers whose memory per open stream the realtime phase measures
// (bench/lib/realtime-memory.ts): on SIGUSR2 the process runs two full garbage collections, waits
// for V8 to hand freed pages back, and writes process.memoryUsage() to memoryReportFile(pid). Without
// it, RSS at N streams would include whatever garbage the last allocations left, which is noise of
// the same size as what is measured. Nothing else of the server changes.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Where a server writes its figures after a settled collection (the bench deletes it first). */
export const memoryReportFile = (pid: number) => path.join(os.tmpdir(), `warble-bench-memory-${pid}.json`);

/** Long enough for V8's concurrent sweeping and unmapping to finish after a synchronous major GC. */
const SETTLE_MS = 500;

// The usual way to get gc() without --expose-gc on the command line (startServer passes none).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (options?: { type: 'major'; execution: 'sync' }) => void;

process.on('SIGUSR2', () => {
  gc({ type: 'major', execution: 'sync' });
  gc({ type: 'major', execution: 'sync' });
  setTimeout(() => writeFileSync(memoryReportFile(process.pid), JSON.stringify(process.memoryUsage())), SETTLE_MS);
});
