// The peer: the same frameworks as Warble (Fastify + tRPC's Fastify adapter) with nothing of
// Warble's own: one `hello` query, no logging, no context, no middleware.
// Usage: node bench/servers/trpc-hello.ts --port N
import { parseArgs } from 'node:util';
import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true });

const t = initTRPC.create();
const helloRouter = t.router({ hello: t.procedure.query(() => 'hello') });

const app = Fastify({ logger: false });
await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router: helloRouter } });
await app.listen({ host: '127.0.0.1', port: Number(values.port) });
const address = app.server.address();
process.stdout.write(`listening on ${typeof address === 'object' && address ? address.port : values.port}\n`);

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
