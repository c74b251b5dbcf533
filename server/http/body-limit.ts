// The body limit, and how an upload over it is refused: as an answer the client gets to read.
//
// Answering 413 and closing while the client is still sending makes our kernel reset the
// connection (unread data), and a client that is still writing then sees EPIPE or "fetch failed"
// instead of the 413: Node's fetch now and then, and nearly always a client that writes its whole
// body before reading (as curl and most simple clients do). So the rest of the upload is read and
// thrown away first, and the 413 follows with `Connection: close`, once the client has sent it all.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TRPCError } from '@trpc/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './error-reply.ts';

export const BODY_LIMIT_BYTES = 1024 * 1024;

// How much more of an oversized upload is read (and dropped, nothing is kept) so that its 413
// arrives. Enough for the honest mistakes (a few MiB too much); past it a client is either hostile
// or sending something else entirely, and reading on would let one connection make us read without
// end: the answer is sent at once and the connection dropped (so is a declared length beyond it).
// The request timeout (REQUEST_TIMEOUT_MS) bounds the time as well: a client too slow to finish
// within it gets the 413 from client-errors.ts and a closed connection.
export const DRAIN_CAP_BYTES = 8 * 1024 * 1024;

export const payloadTooLarge = () =>
  new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `Request body is larger than ${BODY_LIMIT_BYTES} bytes` });

// Connections in the middle of throwing away an oversized body: if the request timeout strikes,
// the answer is still 413 (a retry would fail alike), not 408.
const draining = new WeakSet<Socket>();

export function isDrainingOversizedBody(socket: Socket): boolean {
  return draining.has(socket);
}

/** Reads and drops the rest of `request`: until its end, past `capBytes` more, or its connection ends. */
function discardRest(request: IncomingMessage, capBytes: number): Promise<'ended' | 'capped' | 'gone'> {
  if (request.complete) return Promise.resolve('ended');
  return new Promise((resolve) => {
    let read = 0;
    const finish = (outcome: 'ended' | 'capped' | 'gone') => {
      request.off('data', onData).off('end', onEnd).off('close', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > capBytes) {
        request.pause();
        finish('capped');
      }
    };
    const onEnd = () => finish('ended');
    const onClose = () => finish('gone');
    request.on('data', onData).on('end', onEnd).on('close', onClose);
    request.resume();
  });
}

/**
 * Answers a request whose body is over the limit (Fastify's FST_ERR_CTP_BODY_TOO_LARGE, raised
 * when Content-Length says so, or when a body without one grows past it).
 */
export async function refuseOversizedBody(request: FastifyRequest, reply: FastifyReply, path?: string) {
  // The connection ends after this answer, whatever happens: its remaining bytes are not a request.
  reply.header('connection', 'close');
  const declared = Number(request.headers['content-length']);
  const socket = request.raw.socket;
  if (!(declared > DRAIN_CAP_BYTES)) {
    draining.add(socket);
    try {
      // A body past the cap is answered as soon as that shows; Node drops the connection after the
      // answer, as `Connection: close` asks, and its unread rest with it.
      await discardRest(request.raw, DRAIN_CAP_BYTES);
    } finally {
      draining.delete(socket);
    }
  }
  return sendError(reply, payloadTooLarge(), path);
}
