// `npm pack` runs `prepack` → tsdown: ESM JavaScript and one bundled .d.ts in one pass
// (rolldown-plugin-dts), with no separate api-extractor setup. tsdown is kept by the team behind
// Rolldown and Vite, and it is what tRPC itself builds with.
import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  // Neutral, not node: the SDK runs in browsers, so nothing may pull in a Node built-in.
  platform: 'neutral',
  target: 'es2022',
  // One bundled declaration file: src/app-router.ts spells out every procedure's types, so the
  // bundle's only imports are @trpc/client and @trpc/server (the client's own peer).
  dts: true,
  deps: { neverBundle: [/^@trpc\//] },
  clean: true,
  outDir: 'dist',
});
