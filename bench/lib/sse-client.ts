// A lean client for tRPC's server-sent events, made to hold thousands of streams in one thread
// without being what limits a measurement: one plain GET per stream on a socket of its own, the
// body split into events at blank lines, and only what the bench needs looked at. What tRPC writes:
//   event: connected              (first, always)
//   data: <json> \n id: <id>      (a `tracked` value: no event name)
//   event: ping                   (keep-alive)
//   event: serialized-error       (the stream failed; then it ends)
//   event: return                 (the procedure finished)
// A refusal before the stream starts (the stream caps, a bad token) is a plain JSON error answer.
import http from 'node:http';

/** Far above what opening a stream takes: only turns a hang into an error. */
const OPEN_TIMEOUT_MS = 30_000;
const ERROR_TEXT_MAX = 300;

export interface StreamHandlers {
  /**
   * A data event; `at` is performance.now() taken when its chunk was read, before any parsing, so
   * this client's own work on the chunk is not counted as the server's delay.
   */
  onData(data: string, at: number): void;
  /** The stream ended without this client closing it (error event, `return`, cut connection). */
  onEnd(reason: string): void;
}

export interface SseStream {
  /** Closes the socket: the server sees a client going away. */
  close(): void;
}

export interface StreamTarget {
  agent: http.Agent;
  origin: URL;
  /** e.g. /trpc/posts.onTimeline?input=%7B%7D */
  path: string;
  token: string;
}

/** Opens a stream and resolves once the server has sent `connected`; rejects with the reason otherwise. */
export function openStream(target: StreamTarget, handlers: StreamHandlers): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let closedByUs = false;
    let ended = false;
    const end = (reason: string) => {
      if (ended || closedByUs) return;
      ended = true;
      if (connected) handlers.onEnd(reason);
      else reject(new Error(reason));
    };
    const request = http.get({
      agent: target.agent,
      host: target.origin.hostname,
      port: target.origin.port,
      path: target.path,
      headers: { authorization: `Bearer ${target.token}`, accept: 'text/event-stream' },
    });
    const timer = setTimeout(() => {
      end(`no "connected" event within ${OPEN_TIMEOUT_MS / 1000} s`);
      request.destroy();
    }, OPEN_TIMEOUT_MS);
    const stream: SseStream = {
      close() {
        closedByUs = true;
        clearTimeout(timer);
        request.destroy();
      },
    };
    request.once('error', (error) => end(`connection error: ${error.message}`));
    request.once('response', (response) => {
      response.setEncoding('utf8');
      if (response.statusCode !== 200 || !response.headers['content-type']?.startsWith('text/event-stream')) {
        let body = '';
        response.on('data', (chunk: string) => void (body = (body + chunk).slice(0, ERROR_TEXT_MAX)));
        response.once('end', () => end(`HTTP ${response.statusCode}: ${body}`));
        return;
      }
      let pending = '';
      const onEvent = (block: string, at: number) => {
        // Pings are most of an idle stream's traffic: recognised without splitting lines.
        if (block.startsWith('event: ping')) return;
        let event = '';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('data: ')) data = line.slice(6);
          else if (line.startsWith('event: ')) event = line.slice(7);
        }
        if (event === '') handlers.onData(data, at);
        else if (event === 'connected') {
          connected = true;
          clearTimeout(timer);
          resolve(stream);
        } else if (event === 'serialized-error' || event === 'return')
          end(`${event}: ${data.slice(0, ERROR_TEXT_MAX)}`);
      };
      response.on('data', (chunk: string) => {
        const at = performance.now();
        pending += chunk;
        // tRPC ends every event with "\n\n\n": blank lines between blocks are skipped.
        for (let cut = pending.indexOf('\n\n'); cut >= 0; cut = pending.indexOf('\n\n')) {
          const block = pending.slice(0, cut).replace(/^\n+/, '');
          pending = pending.slice(cut + 2);
          if (block) onEvent(block, at);
        }
      });
      response.once('end', () => end('the server ended the stream'));
      response.once('error', (error) => end(`stream error: ${error.message}`));
      response.once('close', () => end('the connection closed'));
    });
  });
}
