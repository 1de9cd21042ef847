# syntax=docker/dockerfile:1
# Edge Relay image. Debian bookworm (glibc 2.36), not alpine: the uWebSockets.js binary needs glibc.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run `npm run build` before the sources are copied; the build runs
# explicitly below. No runtime dependency has an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
# The admin port binds 0.0.0.0 here so probes and scrapers outside the container reach it. Anyone who can
# reach it can publish, disconnect sockets and drain the instance, so the relay refuses to start here
# without RELAY_ADMIN_TOKEN (bearer token for /v1/*; /healthz, /readyz and /metrics stay open).
ENV NODE_ENV=production RELAY_HOST=0.0.0.0 RELAY_ADMIN_HOST=0.0.0.0
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
USER node
EXPOSE 3000 9100
# No curl in the slim image: node's fetch does the probe. Follows RELAY_ADMIN_PORT when it is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.RELAY_ADMIN_PORT || 9100) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts a graceful drain (up to --drain-timeout, 30 s by default): give `docker stop` /
# Kubernetes at least that long (e.g. `docker run --stop-timeout 35`).
STOPSIGNAL SIGTERM
# The flag of bin/edge-relay.js's first line (why: see there).
ENTRYPOINT ["node", "--no-memory-reducer", "bin/edge-relay.js"]
CMD ["start"]
