#!/usr/bin/env bash
# What `npm test` runs: bootstrap, make sure PostgreSQL and RabbitMQ are up,
# then type-check, lint and run every vitest project. Extra arguments go to
# vitest (e.g. `npm test -- --project bus`, `npm test -- src/foo.test.ts`).
# Type-check, lint and tests all run even if an earlier one fails, so one run
# shows every problem; the exit code is non-zero if any failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"

start=$SECONDS
bash scripts/bootstrap.sh || die "bootstrap failed: cannot run the tests"
bash scripts/ensure-services.sh || die "PostgreSQL/RabbitMQ not available: cannot run the tests"
# The live view is tested through the real command in a terminal (tmux).
if ! have_cmd tmux; then
  if is_debian_like && can_root; then
    log "installing tmux (the live view's terminal test needs it)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >&2 ||
      { as_root apt-get update -qq >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >&2; } ||
      die "apt-get install tmux failed"
  else
    die "tmux is missing: install it (apt-get install tmux); the live view's terminal test needs it"
  fi
fi

declare -A result=()
steps=()
run_step() {
  local name="$1"
  shift
  steps+=("$name")
  log "$name: $*"
  local t0=$SECONDS
  if "$@"; then
    result[$name]="ok ($((SECONDS - t0))s)"
  else
    result[$name]="FAILED ($((SECONDS - t0))s)"
  fi
}

run_step typecheck pnpm exec tsc -b
run_step lint pnpm exec biome check .
run_step tests pnpm exec vitest run "$@"

failed=0
summary=()
for s in "${steps[@]}"; do
  summary+=("$s ${result[$s]}")
  [[ "${result[$s]}" == ok* ]] || failed=1
done
line="$(printf '%s, ' "${summary[@]}")"
line="${line%, }"
if ((failed)); then
  printf '\n%sTEST SUITE FAILED%s in %ss: %s\n' "$_C_RED" "$_C_OFF" "$((SECONDS - start))" "$line" >&2
  exit 1
fi
printf '\n%sTEST SUITE PASSED%s in %ss: %s\n' "$_C_GRN" "$_C_OFF" "$((SECONDS - start))" "$line" >&2
