#!/usr/bin/env bash
# Makes the workspace runnable: Node 20+, pnpm 10, dependencies installed and intact.
# Idempotent; takes a couple of seconds when everything is already in place.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"

# --- Node -------------------------------------------------------------------
have_cmd node || die "Node.js is not installed: install Node 20.19+ (https://nodejs.org, or 'apt-get install nodejs' from NodeSource)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js $(node --version) is too old: this workspace needs Node 20.19+"

# --- pnpm -------------------------------------------------------------------
# No packageManager field on purpose: the registry here lacks the signatures
# corepack/pnpm check for it.
if ! have_cmd pnpm; then
  log "pnpm not found; installing pnpm 10"
  if can_root && have_cmd npm; then
    as_root npm install -g --no-fund --no-audit pnpm@10 >&2
  elif have_cmd corepack; then
    mkdir -p "$HOME/.local/bin"
    corepack enable --install-directory "$HOME/.local/bin" pnpm
    corepack prepare pnpm@10 --activate
    export PATH="$HOME/.local/bin:$PATH"
  else
    die "pnpm is missing and cannot be installed here: run 'npm install -g pnpm@10' as root, or install corepack"
  fi
  have_cmd pnpm || die "pnpm installation finished but 'pnpm' is still not on PATH"
fi
pnpm_version="$(pnpm --version)"
((${pnpm_version%%.*} >= 10)) || warn "pnpm $pnpm_version found; this workspace is tested with pnpm 10 (npm install -g pnpm@10)"

# --- dependencies -------------------------------------------------------------
install_deps() {
  if pnpm install --frozen-lockfile --reporter=append-only >&2; then
    return 0
  fi
  if is_ci; then
    die "pnpm install --frozen-lockfile failed (CI is set, so no fallback): is pnpm-lock.yaml up to date with every package.json?"
  fi
  warn "frozen install failed (pnpm-lock.yaml out of date?); falling back to 'pnpm install', which may update the lockfile"
  pnpm install --reporter=append-only >&2 || die "pnpm install failed"
}

# Fast path: nothing that decides the install changed since the last good
# bootstrap and every package is intact.
STAMP="$ROOT_DIR/node_modules/.bootstrap-stamp"
inputs_hash() {
  {
    node --version
    echo "$pnpm_version"
    cat pnpm-lock.yaml pnpm-workspace.yaml 2>/dev/null || true
    for f in package.json packages/*/package.json services/*/package.json cli/*/package.json; do
      [[ -f "$f" ]] && printf '%s\n' "$f" && cat "$f"
    done
  } | sha256sum | cut -d' ' -f1
}
hash="$(inputs_hash)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$hash" ]] && node scripts/check-deps.mjs >/dev/null; then
  ok "dependencies up to date (node $(node --version), pnpm $pnpm_version)"
  exit 0
fi

log "installing dependencies (pnpm install --frozen-lockfile)"
install_deps

# A package directory whose files went missing (interrupted install, a clean
# that went too far) is not noticed by pnpm. Check that every direct
# dependency's entry points exist; re-link the broken ones from the store.
if ! broken="$(node scripts/check-deps.mjs)"; then
  [[ -n "$broken" ]] || die "scripts/check-deps.mjs failed"
  warn "broken package directories, re-installing them: $(tr '\n' ' ' <<<"$broken")"
  while IFS= read -r dir; do
    [[ "$dir" == "$ROOT_DIR/node_modules/.pnpm/"* ]] || die "refusing to remove $dir (outside node_modules/.pnpm)"
    rm -rf -- "$dir"
  done <<<"$broken"
  install_deps
  node scripts/check-deps.mjs >/dev/null || die "dependencies still broken after re-install; try: rm -rf node_modules && pnpm install"
fi
# The fallback install may have rewritten the lockfile: hash again.
inputs_hash >"$STAMP"
ok "dependencies ready (node $(node --version), pnpm $pnpm_version)"
