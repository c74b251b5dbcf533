// Start and stop of the bench's plain node:http servers: listen on 127.0.0.1, print the port the
// harness waits for, and close every connection on SIGTERM/SIGINT.
import type http from 'node:http';

export function serveUntilSignalled(server: http.Server, port: string): void {
  server.listen(Number(port), '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening on ${typeof address === 'object' && address ? address.port : port}\n`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
