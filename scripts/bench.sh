#!/usr/bin/env bash
# Runs one benchmark: `npm run bench -- <name> [args...]` or `bash scripts/bench.sh <name>`.
# Without a name, lists them. Extra arguments go to the package's bench script.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"

declare -A BENCH_PKG=(
  [ingest]='services/measurements-ingester'
  [commands]='services/sensor-simulator cli/iotctl'
  [alarms]='services/alarm-service'
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
    printf '  %-9s %-40s %s\n' "$name" "${BENCH_PKG[$name]}" "${BENCH_DESC[$name]}"
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
read -r -a dirs <<<"${BENCH_PKG[$name]}"
for dir in "${dirs[@]}"; do
  node -e 'const p=require(process.argv[1]); process.exit(p.scripts && p.scripts.bench ? 0 : 1)' "$ROOT_DIR/$dir/package.json" ||
    die "benchmark '$name' is not available yet: $dir/package.json has no \"bench\" script"
done

bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
for dir in "${dirs[@]}"; do
  log "running: pnpm --dir $dir bench $*"
  pnpm --dir "$dir" bench "$@"
done
