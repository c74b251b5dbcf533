// Debian's `chromium`, driven by playwright-core. No browser is ever downloaded: the machine's own
// is used, and a machine without one fails the test with the way to get it (never a silent skip).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const DEBIAN_PATH = '/usr/bin/chromium';

// Root needs --no-sandbox. The rest stop Chromium from calling home (updates, sync, field trials),
// which on a closed network only costs time and console noise.
const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The path of the chromium executable on PATH, else Debian's; throws when there is none. */
export function findChromium(): string {
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch {
    // not on PATH: try the package's usual place
  }
  if (existsSync(DEBIAN_PATH)) return DEBIAN_PATH;
  throw new Error(
    'The browser test needs Chromium and found none (not on PATH, not at /usr/bin/chromium). ' +
      "Install Debian's package: `apt-get install chromium` (.ci/run does this by itself).",
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: findChromium(), args: ARGS });
}
