# One gateway process. Point DATABASE_URL and REDIS_URL at shared servers to run several replicas;
# without DATABASE_URL it keeps an embedded PGlite database in /data.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The compiler is a dev dependency: install everything, build, then drop what only building needed.
RUN npm install --include=dev --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY src ./src
COPY adapters ./adapters
COPY mappings ./mappings
COPY schemas ./schemas
COPY catalogues ./catalogues
COPY tests ./tests
COPY bench ./bench
RUN npx tsc -p tsconfig.json && npm prune --omit=dev && mkdir -p /data && chown node:node /data /app/catalogues
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/data
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
