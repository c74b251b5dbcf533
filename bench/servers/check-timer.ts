// Imported first by bench/servers/warble-checks.ts, before the router: times the output checks of
// the hot procedures inside the server (the REST phase, bench/lib/rest.ts). The same check timed in
// a loop in another process runs hot and meets only one schema, and was found to cost 3–40× less
// than it does here, between a request's other work. The schemas' `parse` is wrapped before the
// procedures' `.output()` captures it; the wrapper costs two clock reads a call. On SIGUSR2 the
// process writes the calls and milliseconds per schema since the last SIGUSR2 to
// checkTimesFile(pid), and starts counting again. Nothing else of the server changes.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { postPageSchema, postSchema } from '../../server/posts/post.schema.ts';
import { profileSchema } from '../../server/users/profile.schema.ts';

/** Where a server writes its figures (the bench deletes it first). */
export const checkTimesFile = (pid: number) => path.join(os.tmpdir(), `warble-bench-checks-${pid}.json`);

/** Per schema: `schema.parse()` calls and the milliseconds they took. */
export type CheckTimes = Record<string, { calls: number; ms: number }>;

const SCHEMAS = { PostPage: postPageSchema, Post: postSchema, Profile: profileSchema };

let times: CheckTimes = {};
for (const [name, schema] of Object.entries(SCHEMAS)) {
  const parse = schema.parse.bind(schema) as (...args: unknown[]) => unknown;
  Object.defineProperty(schema, 'parse', {
    value: (...args: unknown[]) => {
      const started = performance.now();
      try {
        return parse(...args);
      } finally {
        const entry = (times[name] ??= { calls: 0, ms: 0 });
        entry.calls++;
        entry.ms += performance.now() - started;
      }
    },
  });
}

process.on('SIGUSR2', () => {
  const report = times;
  times = {};
  writeFileSync(checkTimesFile(process.pid), JSON.stringify(report));
});
