// Who an access token belongs to, remembered for a few seconds. Without it every authenticated
// call verifies a signature and reads its session from the database, which costs more than a
// simple procedure itself (docs/benchmarks.md, "auth tax").
//
// A revoked session must not stay usable through the cache. The process that revokes forgets the
// session at once; every process (this one included) also LISTENs for a NOTIFY that the revoking
// transaction sends, so the others forget it within milliseconds. While that listener is not
// connected, the cache is not used at all: a missed notification can never keep a revoked token
// alive. Entries also expire after AUTH_CACHE_SECONDS, and never outlive the token or the session.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import type { Viewer } from './authenticate.ts';

const CHANNEL = 'warble_sessions_revoked';
// Bounds memory (a token and a viewer are well under 1 KB): 10,000 callers active within
// AUTH_CACHE_SECONDS is far more than one process serves.
const MAX_ENTRIES = 10_000;
const RECONNECT_DELAY_MS = 1000;

export type Revoked = { sessionId: string } | { userId: string };

export class ViewerCache {
  readonly #entries: LRUCache<string, Viewer & { userId: string }>;
  readonly #ttlMs: number;
  #listening = false;

  constructor(ttlSeconds: number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#entries = new LRUCache({ max: MAX_ENTRIES, ttl: Math.max(this.#ttlMs, 1) });
  }

  get enabled(): boolean {
    return this.#listening && this.#ttlMs > 0;
  }

  get(token: string): Viewer | undefined {
    return this.enabled ? this.#entries.get(token) : undefined;
  }

  /** Remembers a verified caller until `validUntil` (ms since the epoch) or the cache's TTL. */
  remember(token: string, viewer: Viewer, validUntil: number): void {
    const ttl = Math.min(this.#ttlMs, validUntil - Date.now());
    if (this.enabled && ttl > 0) this.#entries.set(token, { ...viewer, userId: viewer.id }, { ttl });
  }

  forget(revoked: Revoked): void {
    for (const [token, viewer] of this.#entries.entries()) {
      if ('sessionId' in revoked ? viewer.sessionId === revoked.sessionId : viewer.userId === revoked.userId) {
        this.#entries.delete(token);
      }
    }
  }

  /**
   * After a revocation: forgets it here at once, and tells every process (through PostgreSQL;
   * delivered when `em`'s transaction commits, or now outside one).
   */
  async revoked(em: EntityManager, revoked: Revoked): Promise<void> {
    this.forget(revoked);
    await em.getConnection().execute('select pg_notify(?, ?)', [CHANNEL, JSON.stringify(revoked)]);
  }

  /** Keeps a LISTEN connection open (reconnecting) until the returned function is called. */
  listen(clientUrl: string, log: Pick<FastifyBaseLogger, 'warn'>): () => Promise<void> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const close = (old: pg.Client | undefined) => {
      old?.removeAllListeners();
      // A client without an 'error' listener would crash the process on its next error.
      old?.on('error', () => {});
      return old?.end().catch(() => {});
    };
    const lost = (error?: Error) => {
      if (this.#listening)
        log.warn({ err: error }, 'session revocation listener lost; token cache off until it is back');
      this.#listening = false;
      this.#entries.clear();
      void close(client);
      client = undefined;
      if (!stopped) retry = setTimeout(connect, RECONNECT_DELAY_MS);
    };
    const connect = () => {
      const next = new pg.Client({ connectionString: clientUrl, application_name: 'warble-revocations' });
      client = next;
      next.on('error', lost);
      next.on('end', () => lost());
      next.on('notification', (message) => {
        if (message.channel === CHANNEL && message.payload) this.forget(JSON.parse(message.payload) as Revoked);
      });
      next
        .connect()
        .then(() => next.query(`listen ${CHANNEL}`))
        .then(() => {
          if (client !== next) return;
          // Anything revoked while not listening is unknown here: start empty.
          this.#entries.clear();
          this.#listening = true;
        })
        .catch((error: Error) => {
          if (client === next) lost(error);
        });
    };
    connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      this.#listening = false;
      const last = client;
      client = undefined;
      await close(last);
    };
  }
}
