# syntax=docker/dockerfile:1
#
# One image per service, all from this file:
#   docker build --build-arg SERVICE=measurements-ingester -t sensor-streaming/measurements-ingester .
# SERVICE is a directory under services/ and picks what the container runs
# (`node services/$SERVICE/dist/main.js`); every image also carries the
# migrations (`node packages/db/dist/bin/migrate.js`) and the iotctl CLI.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG PNPM_VERSION=10.34.9

# ---- build: install from the lockfile, compile every project, drop dev dependencies
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
ENV CI=true PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install -g pnpm@${PNPM_VERSION} && npm cache clean --force
WORKDIR /src
# The store is filled from the lockfile alone, so this layer survives source edits.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline \
 && pnpm exec tsc -b \
 && pnpm install --frozen-lockfile --offline --prod --config.confirmModulesPurge=false \
 && rm -rf packages/ops-checks \
 && find . -path ./node_modules -prune -o -name '*.tsbuildinfo' -print -delete

# ---- runtime: compiled output, production node_modules, migrations; non-root
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=sensor-registry
ENV NODE_ENV=production SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build --chown=node:node /src/package.json /src/pnpm-workspace.yaml ./
COPY --from=build --chown=node:node /src/node_modules ./node_modules
COPY --from=build --chown=node:node /src/packages ./packages
COPY --from=build --chown=node:node /src/services ./services
COPY --from=build --chown=node:node /src/cli ./cli
COPY --from=build --chown=node:node /src/migrations ./migrations
COPY --chmod=0755 deploy/docker/iotctl /usr/local/bin/iotctl
COPY --chmod=0755 deploy/docker/simulator-index /usr/local/bin/simulator-index
RUN test -d "services/${SERVICE}" || { echo "SERVICE=${SERVICE}: no such directory services/${SERVICE}" >&2; exit 1; }
USER node
# Documentation only: each service listens on its METRICS_PORT (9101-9105).
EXPOSE 9101 9102 9103 9104 9105
# exec replaces the shell, so SIGTERM from `docker stop` or the kubelet reaches node itself.
CMD ["sh", "-c", "exec node \"services/${SERVICE}/dist/main.js\""]
