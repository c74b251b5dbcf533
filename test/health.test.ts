import { describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';

describe('health routes', () => {
  const t = useTestApp();

  it('GET /healthz answers ok while the process is up', async () => {
    const response = await fetch(`${t.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the database answers', async () => {
    const response = await fetch(`${t.url}/readyz`);
    expect(response.status).toBe(200);
  });

  it('GET /readyz answers 503 while the database is gone, and 200 again once it is back (dropped connections do not crash the process)', async () => {
    // Refuse new connections to this test's database and cut the open ones: what a client sees
    // when PostgreSQL restarts or is unreachable.
    await t.db.admin(`alter database "${t.db.name}" allow_connections false`);
    await t.db.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${t.db.name}'`);
    try {
      const down = await fetch(`${t.url}/readyz`);
      expect(down.status).toBe(503);
    } finally {
      await t.db.admin(`alter database "${t.db.name}" allow_connections true`);
    }
    // The process recovers by itself: no restart, the pool reconnects.
    const up = await fetch(`${t.url}/readyz`);
    expect(up.status).toBe(200);
  });

  it('echoes a plain request id and makes one up otherwise', async () => {
    const given = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
