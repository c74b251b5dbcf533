// A REST call's input for its procedure: the JSON body (POST, PUT, PATCH) or the query string
// (GET, DELETE), plus the path's parameters. The procedure's own input schema then checks it,
// exactly as over /trpc.
//
// Query parameters are strings: those the schema wants as numbers or booleans are converted here,
// on a copy of the input (`limit=20` → 20). trpc-to-openapi's handler instead sets zod's `coerce`
// flag on the procedure's own schema, in place, which would change /trpc too ("false" → true).
// Only clear numerals convert: `limit=abc` or `limit=1e2` stays a string, and the schema refuses it
// (400), as it would refuse "abc" over /trpc.
import { TRPCError, type AnyProcedure } from '@trpc/server';
import type { FastifyRequest } from 'fastify';
import { instanceofZodTypeKind, instanceofZodTypeObject, unwrapZodType } from 'trpc-to-openapi';
import type { $ZodType } from 'zod/v4/core';
import { takesBody, type RestRoute } from './routes.ts';

const NUMERAL = /^-?\d+(\.\d+)?$/;

/** What the schema `field` wants a query string's text turned into. */
function fromText(field: $ZodType | undefined, text: string): unknown {
  if (!field) return text;
  const type = unwrapZodType(field, false);
  if (instanceofZodTypeKind(type, 'number') && NUMERAL.test(text)) return Number(text);
  if (instanceofZodTypeKind(type, 'boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

function fieldsOf(procedure: AnyProcedure): Record<string, $ZodType> {
  const [schema] = procedure._def.inputs as $ZodType[];
  const object = schema && unwrapZodType(schema, true);
  return object && instanceofZodTypeObject(object) ? object.shape : {};
}

function queryInput(procedure: AnyProcedure, values: Record<string, unknown>): Record<string, unknown> {
  const fields = fieldsOf(procedure);
  const input: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    // `?cursor=` is how a client that builds its URLs says "no cursor": the first page.
    if (value === '') continue;
    input[name] = typeof value === 'string' ? fromText(fields[name], value) : value;
  }
  return input;
}

function bodyInput(body: unknown): Record<string, unknown> {
  // No body (or JSON null): only the path's parameters, if any.
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'The request body must be a JSON object' });
  return body as Record<string, unknown>;
}

/** The procedure's input for this request; undefined for a procedure that takes none. */
export function restInput(route: RestRoute, request: FastifyRequest): unknown {
  if (route.procedure._def.inputs.length === 0) return undefined;
  const fromPath = queryInput(route.procedure, request.params as Record<string, string>);
  const rest = takesBody(route.method)
    ? bodyInput(request.body)
    : queryInput(route.procedure, request.query as Record<string, unknown>);
  // The path names the resource: a body field of the same name does not override it.
  return { ...rest, ...fromPath };
}
