// Procedures that exist only in tests, mounted next to the real ones, to exercise the transport
// and error handling before (and independently of) the product's procedures.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { mergeRouters, publicProcedure, router } from '../../server/trpc/init.ts';
import { appRouter } from '../../server/trpc/router.ts';
import { User } from '../../server/users/user.entity.ts';

export const testRouter = mergeRouters(
  appRouter,
  router({
    test: router({
      echo: publicProcedure.input(z.object({ text: z.string().min(1).max(10) })).query(({ input }) => input),
      touch: publicProcedure.mutation(() => ({ touched: true })),
      crash: publicProcedure.query(() => {
        throw new Error('relation "secret_table" does not exist at /srv/warble/server/secret.ts:12');
      }),
      badSql: publicProcedure.query(({ ctx }) => ctx.em.getConnection().execute('select * from secret_table')),
      ping: publicProcedure.query(async ({ ctx }) => {
        await ctx.em.getConnection().execute('select 1');
        return { ok: true };
      }),
      addUser: publicProcedure.input(z.object({ username: z.string() })).mutation(async ({ ctx, input }) => {
        const user = ctx.em.create(User, { username: input.username, passwordHash: 'not-a-real-hash' });
        await ctx.em.flush();
        return { id: user.id };
      }),
      slow: publicProcedure.input(z.object({ ms: z.number().int().max(5000) })).query(async ({ input }) => {
        await sleep(input.ms);
        return { waited: input.ms };
      }),
    }),
  }),
);
