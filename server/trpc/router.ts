import { router } from './init.ts';

// Areas (auth, posts, users) are composed here as they arrive; this file only composes.
export const appRouter = router({});

export type AppRouter = typeof appRouter;
