# appeal-letters: one image for both roles. The web role is the default command; run the worker
# with `node dist/server/main.js worker` (see docker-compose.yml).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY domain ./domain
COPY jobs ./jobs
COPY server ./server
COPY scripts/cli.ts ./scripts/cli.ts
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root views ./views
COPY --chown=root:root templates ./templates
COPY --chown=root:root public ./public
# The code is owned by root and read-only to the process; it runs as the unprivileged node user.
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# SIGTERM reaches node directly (exec form), so in-flight requests and sends finish before exit.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js", "web"]
