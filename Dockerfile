# One gateway process. Point DATABASE_URL and REDIS_URL at shared servers to run several replicas;
# without DATABASE_URL it keeps an embedded PGlite database in /data.
#
# Two stages: the compiler and the tests stay in the first; the image that runs holds only the
# production dependencies, the compiled gateway and the data files it reads at run time.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
COPY mappings ./mappings
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/data
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# `npx lienthong …` inside the container: the launcher runs the compiled CLI (no tsx here).
COPY bin ./bin
# Read at run time: message schemas, migrations, unit and facility lists, the examples `npm run demo` sends.
COPY schemas ./schemas
COPY src/store/migrations ./src/store/migrations
COPY catalogues ./catalogues
COPY examples ./examples
RUN mkdir -p /data /audit-checkpoints && chown node:node /data /audit-checkpoints /app/catalogues
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# A heap limit of its own, whatever the host: V8 sizes its first collections from the limit, and
# with the one it derives on a large host (4 GB) the RSS of a process taking a 30,000-row list
# climbs past 500 MB of garbage; with this one it peaks at about 300 MB (docs/PERFORMANCE.md).
# In NODE_OPTIONS, not on the command line, so `docker run -e NODE_OPTIONS=…` raises it (a flag
# on the command line would win over NODE_OPTIONS).
ENV NODE_OPTIONS=--max-old-space-size=512
CMD ["node", "dist/src/main.js"]
