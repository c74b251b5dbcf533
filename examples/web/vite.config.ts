import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  resolve: {
    // The SDK's source, not its build: client-sdk/dist is a build product nobody has to make first.
    alias: { '@warble/client': fileURLToPath(new URL('../../client-sdk/src/index.ts', import.meta.url)) },
    // @trpc/tanstack-react-query pins @trpc/* 11.22.1 (installed here), while the SDK's source sits
    // beside the server's 11.25.2. Resolving these from this folder bundles exactly one copy of
    // each, so the SDK's TRPCClientError is the one `instanceof` checks meet.
    dedupe: ['@trpc/client', '@trpc/server', 'react', 'react-dom', '@tanstack/react-query'],
  },
  server: { port: 5173, strictPort: true },
});
