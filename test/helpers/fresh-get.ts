import http from 'node:http';

/** GET on a connection of its own (no keep-alive reuse): its status, or the connection error code. */
export function freshGet(url: string, timeoutMs = 30_000): Promise<number | string> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 'no status');
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error('timed out')));
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
