// A PostgreSQL LISTEN connection that keeps itself up. Used by the token cache (session
// revocations) and the live timelines (new events). Each is a connection of its own, outside the
// pool: a pooled connection would be handed to queries and lose its LISTEN.
import pg from 'pg';

const RECONNECT_DELAY_MS = 1000;

export interface ListenOptions {
  clientUrl: string;
  channel: string;
  /** Shown in pg_stat_activity. */
  applicationName: string;
  onNotification: (payload: string) => void;
  /** Connected and listening (also after every reconnect): what was missed meanwhile is unknown. */
  onListening: () => void;
  /** The connection failed or ended; a new one is tried a second later. */
  onLost: (error?: Error) => void;
}

/** Listens until the returned function is called (and awaited). */
export function listen(options: ListenOptions): () => Promise<void> {
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
    options.onLost(error);
    void close(client);
    client = undefined;
    if (!stopped) retry = setTimeout(connect, RECONNECT_DELAY_MS);
  };
  const connect = () => {
    const next = new pg.Client({ connectionString: options.clientUrl, application_name: options.applicationName });
    client = next;
    next.on('error', lost);
    next.on('end', () => lost());
    next.on('notification', (message) => {
      if (message.channel === options.channel) options.onNotification(message.payload ?? '');
    });
    next
      .connect()
      .then(() => next.query(`listen ${options.channel}`))
      .then(() => {
        if (client === next) options.onListening();
      })
      .catch((error: Error) => {
        if (client === next) lost(error);
      });
  };
  connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const last = client;
    client = undefined;
    await close(last);
  };
}
