#!/usr/bin/env bash
# Runs every benchmark of this package in turn (bench/*.ts), passing the arguments on.
# `pnpm bench:commands` at the root lands here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for f in bench/*.ts; do
  echo "== $f"
  node --conditions=source --import tsx "$f" "$@"
done
