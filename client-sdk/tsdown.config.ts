import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  // One bundled declaration file: src/app-router.ts spells out every procedure's types, so the
  // bundle's only imports are @trpc/client and @trpc/server (the client's own peer).
  dts: true,
  deps: { neverBundle: [/^@trpc\//] },
  clean: true,
  outDir: 'dist',
});
