#!/usr/bin/env bash
# Installs the `iotctl` command: builds the CLI bundle when it is missing or older than its sources, then links
# cli/iotctl/bin/iotctl.js as `iotctl` into /usr/local/bin (root) or ~/.local/bin (anyone else), or into
# $IOTCTL_BIN_DIR when set. Idempotent and fast when everything is up to date; says in one line what it did.
# The launcher also rebuilds a stale bundle by itself, so an edited source never runs as old code.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

launcher="$ROOT_DIR/cli/iotctl/bin/iotctl.js"
if [[ -n "${IOTCTL_BIN_DIR:-}" ]]; then
  bin_dir="$IOTCTL_BIN_DIR"
elif is_root; then
  bin_dir=/usr/local/bin
else
  bin_dir="$HOME/.local/bin"
fi

built='bundle up to date'
reason="$(cd "$ROOT_DIR" && node --input-type=module -e "
  const { staleReason } = await import(process.argv[1]);
  process.stdout.write(staleReason() ?? '');" "$ROOT_DIR/cli/iotctl/build/stale.mjs")"
if [[ -n "$reason" ]]; then
  (cd "$ROOT_DIR" && node cli/iotctl/build/bundle.mjs >/dev/null) || die "building the iotctl bundle failed"
  built="bundle rebuilt ($reason)"
fi

mkdir -p "$bin_dir"
link="$bin_dir/iotctl"
if [[ "$(readlink "$link" 2>/dev/null || true)" == "$launcher" ]]; then
  linked="$link already points to it"
else
  ln -sfn "$launcher" "$link"
  linked="linked $link -> $launcher"
fi
chmod +x "$launcher"
path_note=''
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) path_note="; add $bin_dir to PATH" ;;
esac
ok "iotctl: $built; $linked$path_note"
