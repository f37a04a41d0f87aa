#
# One image per service, all from this file:
#   docker build --build-arg SERVICE=measurements-ingester -t sensor-streaming/measurements-ingester .
# SERVICE is a directory under services/ and picks what the container runs
# (`node services/$SERVICE/dist/main.js`); every image also carries the
# migrations (`node packages/db/dist/bin/migrate.js`) and the iotctl CLI.
#
# Builds with the classic builder and with BuildKit alike: no `# syntax=`
# line (it makes BuildKit fetch a frontend image from Docker Hub) and no
# BuildKit-only flags (COPY --chmod, RUN --mount).
#
# Behind a TLS-inspecting proxy, give npm and pnpm the proxy's CA (PEM text):
#   docker build --build-arg EXTRA_CA_CERTS="$(cat corp-root-ca.pem)" ...
# It is used by the build stage only; the runtime image does not carry it.
#
# `pnpm test:image` builds this file and runs the services from it
# (deploy/docker/test-image.sh).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG PNPM_VERSION=10.34.9

# ---- build: install from the lockfile, compile every project, then a production-only install
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
ARG EXTRA_CA_CERTS=
ENV CI=true PNPM_HOME=/pnpm PATH=/pnpm:$PATH NODE_EXTRA_CA_CERTS=/etc/ssl/build-extra-ca.pem
# An empty file when no extra CA is given: node then trusts its bundled roots only.
RUN printf '%s\n' "${EXTRA_CA_CERTS}" > /etc/ssl/build-extra-ca.pem \
 && npm install -g pnpm@${PNPM_VERSION} \
 && npm cache clean --force
WORKDIR /src
# The store is filled from the lockfile alone, so this layer survives source edits.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
# `pnpm install --prod` over a full install keeps the dev packages in
# node_modules/.pnpm (about 250 MB: typescript, biome, esbuild, ...), so the
# production install starts from no node_modules at all.
RUN pnpm install --frozen-lockfile --offline \
 && pnpm exec tsc -b \
 && rm -rf packages/ops-checks \
 && find . -name node_modules -prune -exec rm -rf {} + \
 && pnpm install --frozen-lockfile --offline --prod \
 && find . -name node_modules -prune -o -name '*.tsbuildinfo' -type f -exec rm -f {} +

# ---- runtime: compiled output, production node_modules, migrations; non-root.
# The files stay owned by root: the service user can read its code, not change it.
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=sensor-registry
ENV NODE_ENV=production SERVICE=${SERVICE}
WORKDIR /app
COPY deploy/docker/iotctl deploy/docker/simulator-index /usr/local/bin/
RUN chmod 0755 /usr/local/bin/iotctl /usr/local/bin/simulator-index
COPY --from=build /src/package.json /src/pnpm-workspace.yaml ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/packages ./packages
COPY --from=build /src/services ./services
COPY --from=build /src/cli ./cli
COPY --from=build /src/migrations ./migrations
RUN test -d "services/${SERVICE}" || { echo "SERVICE=${SERVICE}: no such directory services/${SERVICE}" >&2; exit 1; }
USER node
# Documentation only: each service listens on its METRICS_PORT (9101-9105).
EXPOSE 9101 9102 9103 9104 9105
# exec replaces the shell, so SIGTERM from `docker stop` or the kubelet reaches node itself.
CMD ["sh", "-c", "exec node \"services/${SERVICE}/dist/main.js\""]
