/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API's tRPC endpoint, e.g. http://localhost:3000/trpc. */
  readonly VITE_WARBLE_API?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
