#!/usr/bin/env bash
# Runs every benchmark of this package in turn (bench/*.ts but mqtt.ts), passing the arguments on.
# `pnpm bench:commands` at the root lands here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for f in bench/*.ts; do
  # The MQTT fleet (10,000 devices on a throwaway broker, root only, minutes) runs on its own: pnpm bench:mqtt
  [[ "$f" == bench/mqtt.ts ]] && continue
  echo "== $f"
  node --conditions=source --import tsx "$f" "$@"
done
