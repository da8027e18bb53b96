# syntax=docker/dockerfile:1
#
# Nexus gateway image: docs/deployment.md explains every choice made here.
#
#   docker build -t nexus-gateway:local .
#   docker run --rm -p 3000:3000 -e NEXUS_MASTER_KEY=change-me-now nexus-gateway:local
#
# The image listens on 0.0.0.0 (HOST below), and Nexus refuses a public address without NEXUS_MASTER_KEY
# (exit code 2 with the reason) unless NEXUS_ALLOW_PUBLIC=true says the operator means it.

ARG NODE_IMAGE=node:20-bookworm-slim

# better-sqlite3 and hnswlib-node are native addons: node-gyp compiles better-sqlite3 when no prebuilt binary can
# be downloaded, and hnswlib-node always (it ships none), which needs python3, make and a C++ compiler. Only the
# build stages carry them, never the runtime image.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

# Every dependency (TypeScript included) to compile src/ into dist/src/.
FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, compiled for the same base image the runtime stage uses.
FROM toolchain AS production-dependencies
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# PORT stays at Nexus's default, 3000; set PORT (not server.port in a file) to change it, so the health check
# below follows.
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  NEXUS_DATA_DIR=/var/lib/nexus
WORKDIR /app
# package.json says "type": "module" (dist/ is ES modules) and gives /health its version; the catalogue is
# read from catalog/ beside dist/ (src/catalog/load.ts).
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY catalog ./catalog
# The embedded SQLite database (tenancy, keys, usage ledger) lives here when DATABASE_URL is not set.
RUN mkdir -p /var/lib/nexus && chown node:node /var/lib/nexus
USER node
VOLUME ["/var/lib/nexus"]
EXPOSE 3000
# /ready is 200 while a provider is enabled and Nexus is not draining. Slim images have no curl: node fetches.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Nexus drains on SIGTERM: new requests get 503, in-flight streams finish up to SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
# `npm start` without its build step; node is PID 1 and handles SIGTERM and SIGINT itself.
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
