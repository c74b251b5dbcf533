// npm run example:web: the API (as `npm start` runs it) and the example web app (examples/web, a
// Vite dev server) together, each on its own origin, as a browser app and its API live.
//
//   PORT         the API's port (3000); every other `npm start` setting applies to the API too
//   WEB_PORT     the web app's port (5173)
//   CORS_ORIGINS the origins the API lets call it (default: the web app's, http://localhost:WEB_PORT)
//
// Both are addressed as `localhost`: the refresh cookie is SameSite=Strict, and localhost:5173 and
// localhost:3000 are the same site, while 127.0.0.1 and localhost are not. Ctrl-C stops both.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type ViteDevServer } from 'vite';

const ROOT = path.join(import.meta.dirname, '..');
const WEB_ROOT = path.join(ROOT, 'examples', 'web');
const START_TIMEOUT_MS = 120_000;

const say = (line: string) => process.stdout.write(`example:web: ${line}\n`);
const fail = (line: string) => process.stderr.write(`example:web: ${line}\n`);

function port(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    fail(`${name} must be a port number (1-65535), not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return number;
}

const apiPort = port('PORT', 3000);
const webPort = port('WEB_PORT', 5173);
const webOrigin = `http://localhost:${webPort}`;
const apiUrl = `http://localhost:${apiPort}/trpc`;
const corsOrigins = process.env.CORS_ORIGINS || webOrigin;

// The API's output goes straight to this terminal, so its logs stay readable (pino-pretty needs a
// TTY) and a failed start shows its reason where it happened.
const api = spawn(process.execPath, [path.join(ROOT, 'server', 'main.ts')], {
  cwd: ROOT,
  env: { ...process.env, PORT: String(apiPort), CORS_ORIGINS: corsOrigins },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const apiExited = new Promise<number>((resolve) =>
  api.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
);
let vite: ViteDevServer | undefined;
let stopping = false;

async function stop(exitCode: number): Promise<never> {
  stopping = true;
  if (api.exitCode === null && api.signalCode === null) api.kill('SIGTERM');
  await Promise.all([vite?.close(), apiExited]);
  process.exit(exitCode);
}

// Ctrl-C reaches the API directly too (same process group); its second signal within a second is
// taken as the same request (server/main.ts), so both stop gracefully.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    say('stopping the web app and the API…');
    void stop(0);
  });
}

void apiExited.then((code) => {
  if (stopping) return;
  fail(`the API exited with code ${code} (its output is above); stopping the web app`);
  void stop(code === 0 ? 1 : code);
});

/** Resolves once GET /healthz answers 200; rejects after START_TIMEOUT_MS. */
async function apiServing(): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (stopping) return new Promise(() => {}); // the exit handler above takes over
    const ok = await fetch(`http://localhost:${apiPort}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await sleep(250);
  }
  throw new Error(`the API did not answer on port ${apiPort} within ${START_TIMEOUT_MS / 1000} s`);
}

try {
  await apiServing();
  // Vite passes VITE_* variables of its own environment to the app as import.meta.env.
  process.env.VITE_WARBLE_API = apiUrl;
  vite = await createServer({
    root: WEB_ROOT,
    configFile: path.join(WEB_ROOT, 'vite.config.ts'),
    server: { port: webPort, strictPort: true },
  });
  await vite.listen();
} catch (error) {
  fail(`cannot start: ${(error as Error).message}`);
  await stop(1);
}

say(`open ${webOrigin}/ in a browser`);
say(`the API is ${apiUrl} (CORS_ORIGINS=${corsOrigins}); Ctrl-C stops both`);
