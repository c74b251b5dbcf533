// Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before there is a request for
// Fastify to route (headers too large, malformed HTTP, a request not received in time). There is
// only the socket, so the answer is written by hand, in the same shape and with the same headers
// as every other answer, and the connection is closed: the bytes after a broken request are not a
// request either.
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { TRPCError } from '@trpc/server';
import type { FastifyInstance } from 'fastify';
import { isDrainingOversizedBody, payloadTooLarge } from './body-limit.ts';
import { errorBody } from './error-reply.ts';
import { SAFE_HEADERS } from './response-headers.ts';

/** The answer for Node's error code: its HTTP status and the tRPC error to put in the body. */
function classify(code: string | undefined, socket: Socket): [number, TRPCError] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, new TRPCError({ code: 'BAD_REQUEST', message: 'Request headers are too large' })];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'Chunk extensions are too large' })];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      // Still reading an oversized body to answer it (body-limit.ts): that is the useful answer.
      if (isDrainingOversizedBody(socket)) return [413, payloadTooLarge()];
      return [408, new TRPCError({ code: 'TIMEOUT', message: 'Request not received in time' })];
    default:
      return [400, new TRPCError({ code: 'BAD_REQUEST', message: 'Malformed HTTP request' })];
  }
}

export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, trpcError] = classify(error.code, socket);
  this.log.debug({ code: error.code, status }, 'malformed or incomplete request');
  // As Node's own handler: answer only if no answer to this connection's request has begun.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(errorBody(trpcError, undefined, status));
    socket.write(
      [
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
        'content-type: application/json; charset=utf-8',
        `content-length: ${Buffer.byteLength(body)}`,
        ...Object.entries(SAFE_HEADERS).map(([name, value]) => `${name}: ${value}`),
        'connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  }
  // Closes once the answer is flushed (a destroy could cut it off).
  socket.destroySoon();
}
