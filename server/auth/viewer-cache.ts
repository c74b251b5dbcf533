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
import { listen } from '../listen.ts';
import type { Viewer } from './authenticate.ts';

const CHANNEL = 'warble_sessions_revoked';
// Bounds memory (a token and a viewer are well under 1 KB): 10,000 callers active within
// AUTH_CACHE_SECONDS is far more than one process serves.
const MAX_ENTRIES = 10_000;

export type Revoked = { sessionId: string } | { userId: string };

export interface Verified {
  viewer: Viewer;
  /** Until when (ms since the epoch) the answer may be remembered: the token's and session's end. */
  validUntil: number;
}

export class ViewerCache {
  readonly #entries: LRUCache<string, Viewer & { userId: string }>;
  // Verifications in flight, shared: when many requests bring one token at once (a client's burst,
  // or every request right after the entry expired), one of them reads the session, not all.
  readonly #pending = new Map<string, Promise<Viewer | null>>();
  // Bumped by every revocation: a verification that started before one is not remembered after it.
  #generation = 0;
  readonly #ttlMs: number;
  #listening = false;

  constructor(ttlSeconds: number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#entries = new LRUCache({ max: MAX_ENTRIES, ttl: Math.max(this.#ttlMs, 1) });
  }

  get enabled(): boolean {
    return this.#listening && this.#ttlMs > 0;
  }

  /** The caller of `token`: remembered, or found by `verify` (once for all concurrent asks). */
  async lookup(token: string, verify: () => Promise<Verified | null>): Promise<Viewer | null> {
    if (!this.enabled) return (await verify())?.viewer ?? null;
    const known = this.#entries.get(token);
    if (known) return known;
    let pending = this.#pending.get(token);
    if (!pending) {
      const generation = this.#generation;
      pending = verify()
        .then((verified) => {
          const ttl = verified ? Math.min(this.#ttlMs, verified.validUntil - Date.now()) : 0;
          if (verified && ttl > 0 && generation === this.#generation && this.enabled) {
            this.#entries.set(token, { ...verified.viewer, userId: verified.viewer.id }, { ttl });
          }
          return verified?.viewer ?? null;
        })
        .finally(() => {
          if (this.#pending.get(token) === pending) this.#pending.delete(token);
        });
      this.#pending.set(token, pending);
    }
    return pending;
  }

  /** The caller of `token` if it is remembered; never verifies. */
  peek(token: string): Viewer | undefined {
    return this.enabled ? this.#entries.get(token) : undefined;
  }

  forget(revoked: Revoked): void {
    this.#generation++;
    // Requests from now on verify afresh; ones already waiting keep the answer they asked for.
    this.#pending.clear();
    for (const [token, viewer] of this.#entries.entries()) {
      if ('sessionId' in revoked ? viewer.sessionId === revoked.sessionId : viewer.userId === revoked.userId) {
        this.#entries.delete(token);
      }
    }
  }

  #clear(): void {
    this.#generation++;
    this.#pending.clear();
    this.#entries.clear();
  }

  /**
   * After a revocation: forgets it here at once, and tells every process (through PostgreSQL;
   * delivered when `em`'s transaction commits, or now outside one).
   */
  async revoked(em: EntityManager, revoked: Revoked): Promise<void> {
    this.forget(revoked);
    // em.execute, not em.getConnection().execute: only the former runs inside em's transaction.
    await em.execute('select pg_notify(?, ?)', [CHANNEL, JSON.stringify(revoked)]);
  }

  /** Keeps a LISTEN connection open (reconnecting) until the returned function is called. */
  listen(clientUrl: string, log: Pick<FastifyBaseLogger, 'warn'>): () => Promise<void> {
    const stop = listen({
      clientUrl,
      channel: CHANNEL,
      applicationName: 'warble-revocations',
      onNotification: (payload) => this.forget(JSON.parse(payload) as Revoked),
      onListening: () => {
        // Anything revoked while not listening is unknown here: start empty.
        this.#clear();
        this.#listening = true;
      },
      onLost: (error) => {
        if (this.#listening)
          log.warn({ err: error }, 'session revocation listener lost; token cache off until it is back');
        this.#listening = false;
        this.#clear();
      },
    });
    return async () => {
      this.#listening = false;
      await stop();
    };
  }
}
