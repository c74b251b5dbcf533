import { pino, type DestinationStream, type Logger } from 'pino';
import type { Env } from './env.ts';

// Anything that could carry a credential is censored before it is written, wherever it appears
// in a log line: request headers, procedure inputs, or objects logged by hand.
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.secret',
  'password',
  'accessToken',
  'refreshToken',
];

/** `destination` is for tests; by default logs go to stdout. */
export function createLogger(env: Pick<Env, 'NODE_ENV' | 'LOG_LEVEL'>, destination?: DestinationStream): Logger {
  // Readable lines for a developer at a terminal (a convenience of every mode but production, unset
  // NODE_ENV included); JSON everywhere else, for log shippers.
  const pretty = env.NODE_ENV !== 'production' && process.stdout.isTTY && !destination;
  const options = {
    level: env.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
