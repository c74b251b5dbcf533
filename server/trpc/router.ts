import { authRouter } from '../auth/auth.router.ts';
import { router } from './init.ts';

// Areas are composed here as they arrive; this file only composes.
export const appRouter = router({
  auth: authRouter,
});

export type AppRouter = typeof appRouter;
