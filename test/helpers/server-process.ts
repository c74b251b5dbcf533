import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const MAIN = path.join(import.meta.dirname, '..', '..', 'server', 'main.ts');

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Resolves with the URL from the start-up line, or rejects if the process exits first. */
  serving: Promise<string>;
  exited: Promise<number | null>;
}

/**
 * Runs `node server/main.ts` as `npm start` does, with exactly the given environment (nothing
 * inherited, so the machine's own settings cannot leak into the test).
 */
export function startServerProcess(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const serving = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Warble is serving (http:\/\/\S+)\/trpc/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited with ${code} before serving:\n${output}`)));
  });
  serving.catch(() => {}); // a test that never awaits it must not see an unhandled rejection
  return { child, output: () => output, serving, exited };
}
