#!/usr/bin/env bash
# `pnpm test:image`: builds the project's image with no registry lookups and
# runs it for real against this machine's RabbitMQ and PostgreSQL:
#
#  1. base image: node:20-bookworm-slim if present or pullable, else a local
#     stand-in made by local-node-base.sh (debootstrap + this machine's Node 20);
#  2. docker build with the classic builder (no BuildKit frontend to fetch);
#  3. registry and both ingesters start against an EMPTY database: they must
#     stay unready (/readyz 503 naming `schema`) with the "schema is behind" log line;
#  4. migrate runs from the image and exits 0; the services turn ready;
#  5. the simulator starts; measurement rows must arrive; no container runs as root;
#  6. everything stops with SIGTERM (exit 143) and is cleaned up.
#
# It ends with `image: <MB> MB, services ready <n>/<m>, rows <r>` and exits non-zero
# when any check fails. Isolated from other users of the machine: its own
# database and vhost (random names, dropped afterwards), metrics ports 19201-19205,
# containers on the host network (so 127.0.0.1 is the machine's broker and database).
#
# Needs a running Docker engine (`dockerd &` or `service docker start`), psql and curl.
# Environment: PGURL (postgres://postgres@127.0.0.1:5432), AMQP_HOST (127.0.0.1:5672),
# RABBITMQ_API (http://guest:guest@127.0.0.1:15672), IMAGE_EXTRA_CA_FILE (PEM file for
# a TLS-inspecting proxy; default: /usr/local/share/ca-certificates/*.crt when present),
# IMAGE_SIZE_LIMIT_MB (300).
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_IMAGE=${NODE_IMAGE:-node:20-bookworm-slim}
IMAGE=${IMAGE:-sensor-streaming/app:image-test}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
AMQP_HOST=${AMQP_HOST:-127.0.0.1:5672}
RABBITMQ_API=${RABBITMQ_API:-http://guest:guest@127.0.0.1:15672}
SIZE_LIMIT_MB=${IMAGE_SIZE_LIMIT_MB:-300}
SUFFIX=$(date +%s)_$$
DB=sstest_image_$SUFFIX
VHOST=sstest_image_$SUFFIX
PREFIX=sstimg$$
failures=()

log() { printf '[test:image] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; failures+=("$*"); }

docker info >/dev/null 2>&1 || { log "no Docker engine: start one (dockerd & / service docker start)"; exit 2; }
for tool in psql curl; do command -v $tool >/dev/null || { log "$tool is required"; exit 2; }; done

containers=()
tmp_ca=
cleanup() {
  set +e
  [[ -n $tmp_ca ]] && rm -f "$tmp_ca"
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  psql "$PGURL/postgres" -qAtc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
  curl -fsS -X DELETE "$RABBITMQ_API/api/vhosts/$VHOST" >/dev/null 2>&1
}
trap cleanup EXIT

# ---- 1. base image, without Docker Hub if need be
if ! docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
  if ! timeout 60 docker pull "$NODE_IMAGE" >/dev/null 2>&1; then
    log "$NODE_IMAGE cannot be pulled: making a local one (debootstrap, cached as the image)"
    IMAGE=$NODE_IMAGE bash deploy/docker/local-node-base.sh
  fi
fi

# ---- 2. build (classic builder: no frontend image, no registry lookup for a base that is present)
ca_args=()
ca_file=${IMAGE_EXTRA_CA_FILE:-}
if [[ -z $ca_file ]] && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  ca_file=$(mktemp)
  tmp_ca=$ca_file
  cat /usr/local/share/ca-certificates/*.crt >"$ca_file"
fi
[[ -n $ca_file ]] && ca_args=(--build-arg "EXTRA_CA_CERTS=$(cat "$ca_file")")
log "building $IMAGE (NODE_IMAGE=$NODE_IMAGE)"
build_started=$(date +%s)
DOCKER_BUILDKIT=0 docker build -q --build-arg "NODE_IMAGE=$NODE_IMAGE" "${ca_args[@]}" \
  --build-arg SERVICE=sensor-registry -t "$IMAGE" . >/dev/null
log "built in $(($(date +%s) - build_started)) s"
size_mb=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d", $1/1e6}')
((size_mb <= SIZE_LIMIT_MB)) || fail "image is $size_mb MB, over $SIZE_LIMIT_MB MB"

# ---- isolated database and vhost
psql "$PGURL/postgres" -qAtc "CREATE DATABASE \"$DB\"" >/dev/null
# The management API has answered with an empty reply under load (a CI run after a 300 s build):
# both PUTs are idempotent, so they are retried.
api_put() { curl -fsS --retry 5 --retry-delay 1 --retry-all-errors -X PUT "$@" >/dev/null; }
api_put "$RABBITMQ_API/api/vhosts/$VHOST"
api_put -H 'content-type: application/json' -d '{"configure":".*","write":".*","read":".*"}' \
  "$RABBITMQ_API/api/permissions/$VHOST/guest"
DATABASE_URL="$PGURL/$DB"
AMQP_URL="amqp://guest:guest@$AMQP_HOST/$VHOST"

run() { # run <name> <SERVICE> <metrics port> [docker args...] -- start a service container
  local name=$PREFIX-$1 service=$2 port=$3
  shift 3
  docker run -d --name "$name" --network host -e SERVICE="$service" -e METRICS_PORT="$port" \
    -e METRICS_HOST=127.0.0.1 -e DATABASE_URL="$DATABASE_URL" -e AMQP_URL="$AMQP_URL" \
    -e LOG_LEVEL=info "$@" "$IMAGE" >/dev/null
  containers+=("$name")
}
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" || true; }
wait_for() { # wait_for <seconds> <command...>
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do (($(date +%s) < deadline)) || return 1; sleep 1; done
}
ready() { [[ $(readyz "$1") == 200 ]]; }

declare -A ports=([sensor-registry]=19201 [measurements-ingester]=19202 [logs-ingester]=19203)

# ---- 3. an empty database: the services must wait for the schema
for s in "${!ports[@]}"; do run "$s" "$s" "${ports[$s]}"; done
for s in "${!ports[@]}"; do
  c=$PREFIX-$s
  if wait_for 60 sh -c "docker logs $c 2>&1 | grep -q 'database schema is behind this release'"; then
    body=$(curl -s "http://127.0.0.1:${ports[$s]}/readyz" || true)
    [[ $body == *'"schema"'* && $(readyz "${ports[$s]}") == 503 ]] ||
      fail "$s: /readyz should be 503 naming schema before migrating, got: $body"
  else
    fail "$s: no 'database schema is behind' log line before migrating"
    docker logs --tail 20 "$c" >&2 || true
  fi
done

# ---- 4. migrate from the image
containers+=("$PREFIX-migrate")
if docker run --name "$PREFIX-migrate" --network host -e DATABASE_URL="$DATABASE_URL" "$IMAGE" \
  node packages/db/dist/bin/migrate.js >/tmp/"$PREFIX"-migrate.log 2>&1; then
  grep -q '"msg":"migrations complete"' /tmp/"$PREFIX"-migrate.log || fail "migrate: no 'migrations complete' line"
else
  fail "migrate exited $(docker inspect -f '{{.State.ExitCode}}' "$PREFIX-migrate")"
  tail -5 /tmp/"$PREFIX"-migrate.log >&2
fi
rm -f /tmp/"$PREFIX"-migrate.log

# ---- 5. simulator, readiness, rows, users
run sensor-simulator sensor-simulator 19205 -e SENSOR_COUNT=5 -e SIMULATOR_INDEX=0 \
  -e SENSOR_SERIAL_PREFIX="$PREFIX"
ports[sensor-simulator]=19205
ready_count=0
for s in "${!ports[@]}"; do
  if wait_for 90 ready "${ports[$s]}"; then
    ready_count=$((ready_count + 1))
  else
    fail "$s: not ready after 90 s: $(curl -s "http://127.0.0.1:${ports[$s]}/readyz" || true)"
    docker logs --tail 20 "$PREFIX-$s" >&2 || true
  fi
done
rows() { psql "$DATABASE_URL" -qAtc 'SELECT count(*) FROM measurements' 2>/dev/null || echo 0; }
wait_for 90 sh -c "[ \"\$(psql '$DATABASE_URL' -qAtc 'SELECT count(*) FROM measurements' 2>/dev/null || echo 0)\" -gt 0 ]" ||
  fail "no measurement rows arrived within 90 s"
row_count=$(rows)
for c in "${containers[@]}"; do
  [[ $c == "$PREFIX-migrate" ]] && continue
  uid=$(docker exec "$c" id -u 2>/dev/null || echo '?')
  [[ $uid != 0 && $uid != '?' ]] || fail "$c runs as uid $uid"
done

# ---- 6. SIGTERM: each service drains and exits 128+15
for s in "${!ports[@]}"; do
  docker stop -t 30 "$PREFIX-$s" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$PREFIX-$s")
  [[ $code == 143 ]] || fail "$s exited $code on SIGTERM, expected 143"
done

total=${#ports[@]}
echo "image: $size_mb MB, services ready $ready_count/$total, rows $row_count"
if ((${#failures[@]} > 0)); then
  log "${#failures[@]} check(s) failed"
  exit 1
fi
