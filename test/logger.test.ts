import { describe, expect, it } from 'vitest';
import { createLogger } from '../server/logger.ts';

describe('logs', () => {
  it('never contain credentials, wherever they appear', () => {
    let written = '';
    const logger = createLogger(
      { NODE_ENV: 'production', LOG_LEVEL: 'info' },
      { write: (line: string) => (written += line) },
    );
    logger.info({ req: { headers: { authorization: 'Bearer eyJ.secret.jwt', cookie: 'sid=abc' } } }, 'request');
    logger.info({ input: { username: 'ada', password: 'hunter2hunter2' } }, 'login');
    logger.info({ result: { accessToken: 'at-secret', refreshToken: 'rt-secret' } }, 'tokens');
    expect(written).not.toMatch(/eyJ\.secret|sid=abc|hunter2|at-secret|rt-secret/);
    expect(written).toContain('ada');
    // Production logs are JSON lines.
    for (const line of written.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('msg');
  });
});
