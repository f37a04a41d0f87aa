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
did=()
# with_lock FILE CMD...: CMD while holding FILE (flock), so concurrent
# bootstraps (two clones, or npm start and npm test at once) take turns.
with_lock() {
  local file="$1"
  shift
  if ! have_cmd flock; then
    "$@"
    return
  fi
  (
    exec 9>>"$file"
    chmod 666 "$file" 2>/dev/null || true
    if ! flock -n 9; then
      log "another bootstrap holds $file; waiting for it"
      flock -w 600 9 || die "gave up waiting for $file after 600 s"
    fi
    "$@" 9>&-
  )
}

npm_global_bin() { printf '%s/bin' "$(npm prefix -g 2>/dev/null)"; }

install_pnpm() {
  # Another run may have installed it while this one waited for the lock.
  have_cmd pnpm && return 0
  [[ -x "$(npm_global_bin)/pnpm" ]] && return 0
  log "pnpm not found; installing pnpm 10"
  if can_root && have_cmd npm; then
    as_root npm install -g --no-fund --no-audit --loglevel=error pnpm@10 >&2 || die "npm install -g pnpm@10 failed"
  elif have_cmd corepack; then
    mkdir -p "$HOME/.local/bin"
    corepack enable --install-directory "$HOME/.local/bin" pnpm
    corepack prepare pnpm@10 --activate
  else
    die "pnpm is missing and cannot be installed here: run 'npm install -g pnpm@10' as root, or install corepack"
  fi
}

if ! have_cmd pnpm; then
  with_lock "${TMPDIR:-/tmp}/sensor-streaming-pnpm-install.lock" install_pnpm
  if ! have_cmd pnpm; then
    # npm's global bin or corepack's directory may not be on this shell's PATH.
    for dir in "$(npm_global_bin)" "$HOME/.local/bin"; do
      if [[ -x "$dir/pnpm" ]]; then
        export PATH="$dir:$PATH"
        warn "pnpm is in $dir, which is not on your PATH: add it (export PATH=\"$dir:\$PATH\")"
        break
      fi
    done
  fi
  have_cmd pnpm || die "pnpm installation finished but 'pnpm' is still not on PATH (looked in $(npm_global_bin) and $HOME/.local/bin)"
  did+=("installed pnpm $(pnpm --version)")
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
deps_current() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(inputs_hash)" ]] && node scripts/check-deps.mjs >/dev/null
}

install_all() {
  # Another bootstrap of this clone may have finished the install while we waited.
  deps_current && return 0

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
}

if deps_current; then
  did+=("dependencies up to date")
else
  t0=$SECONDS
  clone_key="$(printf '%s' "$ROOT_DIR" | sha256sum | cut -c1-12)"
  with_lock "${TMPDIR:-/tmp}/sensor-streaming-deps-$clone_key.lock" install_all
  did+=("dependencies installed ($((SECONDS - t0)) s)")
fi
line="$(printf '%s, ' "${did[@]}")"
ok "bootstrap: ${line%, } (node $(node --version), pnpm $(pnpm --version))"

# The operator's CLI as a real command (bundle rebuilt when its sources changed).
bash scripts/install-iotctl.sh
