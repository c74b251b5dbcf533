# syntax=docker/dockerfile:1
#
# Warble API image. Node 24 runs the server's TypeScript directly (type stripping): there is no
# build step, so the image holds the production dependencies, package.json and server/.
#
#   docker build -t warble-api .
#   docker run --rm -p 3000:3000 -e DATABASE_URL=postgresql://… -e JWT_SECRET=… warble-api
#
# Debian (glibc), not Alpine (musl): Warble is developed and tested on glibc, with bcrypt's glibc
# prebuild (bcrypt/prebuilds/linux-<arch>/bcrypt.glibc.node), so nothing is compiled. bcrypt also
# ships a musl prebuild, but Warble has never run on musl, and the embedded PostgreSQL binaries
# (not used here, see below) are glibc builds. bcrypt's prebuilds and the Node image both cover
# linux/amd64 and linux/arm64, so `docker buildx build --platform` works for either.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- dependencies -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# The root package.json declares the workspace client-sdk/, so `npm ci` needs that workspace's
# package.json to match the lockfile; the SDK's sources are not needed (nor copied).
COPY package.json package-lock.json ./
COPY client-sdk/package.json client-sdk/
# --omit=dev: no test, lint or build tools.
# --omit=optional: leaves out the @embedded-postgres/<platform> binaries (about 60 MB), which are
#   optionalDependencies of the regular dependency embedded-postgres. They only serve a process
#   started WITHOUT DATABASE_URL; in this image a missing DATABASE_URL then stops start-up at once
#   (exit 1, "the embedded PostgreSQL binaries (@embedded-postgres/linux-<arch>) are not installed
#   …, or set DATABASE_URL to use your own PostgreSQL") instead of quietly creating a database in
#   the container's writable layer that disappears with the container. (The only other optional
#   package in the production tree is pg-cloudflare, for Cloudflare Workers.) typescript (about
#   24 MB) stays: it is a peer dependency of @trpc/server, though nothing loads it at run time.
#   With the binaries gone, the only production package with an install script is bcrypt,
#   which allowScripts in package.json denies: its script (node-gyp-build) would only confirm the
#   prebuilt binary the package already ships. An npm that predates allowScripts runs it instead,
#   and it finds that prebuild and compiles nothing, so no compiler is needed either way.
# The cache mount (BuildKit, Docker's default builder) keeps downloads out of the image's layers.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --omit=optional --no-audit --no-fund

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Everything stays owned by root and read-only to the server, which runs as the image's
# unprivileged `node` user (uid 1000). With DATABASE_URL and an explicit JWT_SECRET or key (which
# NODE_ENV=production requires) the server writes no files, so the container can also run with a
# read-only root filesystem.
COPY --from=deps /app/node_modules ./node_modules
# package.json is needed at run time ("type": "module"); the lockfile and the workspace's
# package.json keep `npm ls` and `npm run` inside the image consistent (node_modules/@warble/client
# is a workspace link to client-sdk/).
COPY package.json package-lock.json ./
COPY client-sdk/package.json client-sdk/
# server/ holds the entry point, the commands (server/commands/migrate.ts for a release step) and
# the migrations, which the migrator loads from server/migrations at run time.
# mikro-orm.config.ts is only for the MikroORM CLI, a devDependency, and is left out.
COPY server ./server
USER node
EXPOSE 3000
# Liveness only (/healthz answers while the process runs): a database outage must not get the
# container restarted, it recovers by itself; /readyz is for a load balancer's routing decision.
# Node's own fetch, since the slim image has no curl or wget.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: server/main.ts (close-with-grace) fails readiness,
# drains calls in flight for up to SHUTDOWN_GRACE_MS (10 s by default) and exits 0, so the
# orchestrator's stop timeout must be longer (compose.yaml: stop_grace_period: 15s). With
# DATABASE_URL set the server starts no child processes, so no init (tini, `--init`) is needed to
# reap zombies. Start node directly, not through `npm start`, so the signal reaches it.
CMD ["node", "server/main.ts"]
