import { authRouter } from '../auth/auth.router.ts';
import { postsRouter } from '../posts/posts.router.ts';
import { usersRouter } from '../users/users.router.ts';
import { router } from './init.ts';

// Composition only: each area's procedures live with that area.
export const appRouter = router({
  auth: authRouter,
  posts: postsRouter,
  users: usersRouter,
});

export type AppRouter = typeof appRouter;
