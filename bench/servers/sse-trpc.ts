// The peer for memory per open stream: Fastify + tRPC's Fastify adapter serving one subscription
// that never yields (an idle stream), with Warble's SSE settings (ping every 15 s). What one open
// stream costs here is tRPC's and Fastify's floor, before anything of Warble's own.
// Usage: node bench/servers/sse-trpc.ts --port N
import './gc-hook.ts';
import { parseArgs } from 'node:util';
import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true });

const t = initTRPC.create({
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 35_000 } },
});
const sseRouter = t.router({
  hello: t.procedure.query(() => 'hello'),
  // Yields nothing and ends when the client goes away. Not `for await (… of on(emitter, …))`:
  // events.on() allocates two 2,048-slot queues per iterator, 32 KB per stream.
  idle: t.procedure.subscription(async function* ({ signal }) {
    await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    yield* [];
  }),
});

const app = Fastify({ logger: false });
await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router: sseRouter } });
await app.listen({ host: '127.0.0.1', port: Number(values.port) });
const address = app.server.address();
process.stdout.write(`listening on ${typeof address === 'object' && address ? address.port : values.port}\n`);

const stop = () => {
  app.server.closeAllConnections();
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
