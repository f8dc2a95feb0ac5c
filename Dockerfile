# The orchestrator services in one image: `docker run IMAGE scheduler|gateway|worker|dev [flags]`.
# BASE is any Node.js 20+ image on Debian or Ubuntu (the default is the official LTS image); the
# build stage compiles better-sqlite3 when no prebuilt binary can be downloaded, for which the
# base needs python3, make and g++ (the official non-slim images have them).
ARG BASE=node:22-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY . .
# better-sqlite3 is not needed to compile the TypeScript: install scripts are skipped, so it is not
# built here; it is installed once, below, into the runtime tree. Optional dependencies stay: the
# dashboard's bundler (vite, rolldown) needs its platform's native binding, an optional package.
# The build that `npm ci` would run (prepare) is run by name, since scripts are skipped.
RUN mkdir -p /tmp/packs \
 && npm ci --ignore-scripts --no-audit --no-fund \
 && npm run build \
 && npm pack --workspace packages/client --workspace packages/server --pack-destination /tmp/packs
# The runtime tree is what `npm install orchestrator-ts` gives a user: the server package, the
# client it needs, and their production dependencies.
WORKDIR /app
RUN echo '{"name":"orchestrator-image","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/packs/*.tgz \
 && npm cache clean --force

FROM ${BASE}
ENV NODE_ENV=production \
    PATH=/app/node_modules/.bin:$PATH \
    ORCHESTRATOR_HOST=0.0.0.0 \
    ORCHESTRATOR_DATA_DIR=/data
COPY --from=build /app /app
# Not root: the services need no privilege, and /data (the embedded store) is theirs.
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 50051 50052 50053
# The gRPC health check (grpc.health.v1) of the service this container runs: set
# ORCHESTRATOR_HEALTH_ADDRESS to its port (127.0.0.1:50052 for a Scheduler, :50053 for a Worker),
# and ORCHESTRATOR_CLIENT_TLS_CA when it listens with TLS.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["orchestrator", "health"]
ENTRYPOINT ["orchestrator"]
CMD ["--help"]
