// A live stream that outlives its access tokens. The server ends a stream with UNAUTHORIZED when its
// token expires or its session is revoked; the SDK then refreshes (the one refresh shared with every
// call in flight) and connects again with `lastEventId` = the last event it delivered, so the server
// resumes right after it: nothing lost, nothing repeated, and the caller's onData never notices.
import type { Operation } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AuthContext, NextLink } from './auth-link.ts';
import { warbleErrorCode } from './errors.ts';
import type { SentWith, TokenRenewal } from './token-renewal.ts';

// A token the server refuses is refused as the stream starts: tRPC writes `connected` and the
// error together. A stream still open this long after `connected` had its token accepted, so a
// later UNAUTHORIZED means that token ran out (access tokens live for seconds at the very least).
const ACCEPTED_AFTER_MS = 500;

export interface ResumingSubscriptionOptions {
  op: Operation;
  next: NextLink;
  renewal: TokenRenewal;
}

export function resumingSubscription({ op, next, renewal }: ResumingSubscriptionOptions): ReturnType<NextLink> {
  return observable((observer) => {
    let stopped = false;
    let unsubscribe: (() => void) | undefined;
    /** The id of the last event delivered to the caller: where a new connection resumes. */
    let lastEventId: string | undefined;
    /**
     * Set when the stream connects again after a refresh, cleared once the server has shown it
     * accepts the new token. An UNAUTHORIZED in between is not an expiry: refreshing again would
     * only loop (say, a server that refuses every token it is given), so the caller gets it.
     */
    let unproven = false;
    /** What the latest connection was made with, for the renewal to compare against. */
    let sent: SentWith = { accessToken: null, refreshesEnded: 0 };

    // Called by the SSE link on every connection, tRPC's and the EventSource's own reconnects alike.
    const connectToken = async () => {
      const { held: _held, ...read } = await renewal.read();
      sent = read;
      return read.accessToken;
    };

    const connect = () => {
      if (stopped) return;
      let startedAt: number | undefined;
      const input = lastEventId === undefined ? op.input : { ...(op.input as object | undefined), lastEventId };
      const context: AuthContext = { ...op.context, connectToken };
      const subscription = next({ ...op, input, context }).subscribe({
        next(envelope) {
          const { result } = envelope;
          if (result.type === 'started') startedAt = Date.now();
          if (result.type === undefined || result.type === 'data') {
            unproven = false;
            if (result.id) lastEventId = result.id;
          }
          observer.next(envelope);
        },
        error(error) {
          if (startedAt !== undefined && Date.now() - startedAt >= ACCEPTED_AFTER_MS) unproven = false;
          if (stopped) return;
          if (warbleErrorCode(error) !== 'UNAUTHORIZED' || unproven) return observer.error(error);
          // Until the new connection's `started`, the caller's UI may say "reconnecting".
          observer.next({ result: { type: 'state', state: 'connecting', error: null } });
          void renewal.renew(sent).then(
            (renewed) => {
              // Refused (the session is over: the store is cleared) or impossible: the caller decides.
              if (!renewed) return observer.error(error);
              unproven = true;
              connect();
            },
            () => observer.error(error), // the token store itself failed
          );
        },
        complete() {
          observer.complete();
        },
      });
      unsubscribe = () => subscription.unsubscribe();
    };

    connect();
    return () => {
      stopped = true;
      unsubscribe?.();
    };
  });
}
