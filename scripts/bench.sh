#!/usr/bin/env bash
# Runs one benchmark: `npm run bench -- <name> [args...]` or `bash scripts/bench.sh <name>`.
# Without a name, lists them. Extra arguments go to the package's bench script.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"

declare -A BENCH_PKG=(
  [ingest]=measurements-ingester
  [commands]=sensor-simulator
  [alarms]=alarm-service
)
declare -A BENCH_DESC=(
  [ingest]='measurements through RabbitMQ into PostgreSQL'
  [commands]='command round trips to simulated sensors'
  [alarms]='alarm rules over data and logs'
)

list() {
  local name
  echo "usage: npm run bench -- <name> [args...]   (or: bash scripts/bench.sh <name>)"
  echo "benchmarks:"
  for name in ingest commands alarms; do
    printf '  %-9s %-22s %s\n' "$name" "${BENCH_PKG[$name]}" "${BENCH_DESC[$name]}"
  done
}

if (($# == 0)); then
  list
  exit 0
fi
name="$1"
shift
if [[ -z "${BENCH_PKG[$name]:-}" ]]; then
  list >&2
  die "unknown benchmark '$name'"
fi
svc="${BENCH_PKG[$name]}"
pkg_json="services/$svc/package.json"
node -e 'const p=require(process.argv[1]); process.exit(p.scripts && p.scripts.bench ? 0 : 1)' "$ROOT_DIR/$pkg_json" ||
  die "benchmark '$name' is not available yet: $pkg_json has no \"bench\" script"

bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
log "running: pnpm --filter @sensor-streaming/$svc bench $*"
exec pnpm --filter "@sensor-streaming/$svc" bench "$@"
