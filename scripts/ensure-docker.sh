#!/usr/bin/env bash
# Makes a Docker engine available for `pnpm test:image`: installs Debian's
# docker.io and debootstrap when missing (root), starts dockerd when it is not
# running, and waits until it answers. Idempotent; says in one line what it did.
# Env: DOCKER_TIMEOUT_S (60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT_S="${DOCKER_TIMEOUT_S:-60}"
did=()
missing=()
# The engine is what matters: a machine may ship only the client (docker in
# /usr/local/bin, no dockerd), and docker.io brings both.
{ have_cmd docker && have_cmd dockerd; } || missing+=(docker.io)
have_cmd debootstrap || missing+=(debootstrap)
if ((${#missing[@]} > 0)); then
  is_debian_like && can_root || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) to build the image"
  log "installing ${missing[*]} with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
    { as_root apt-get update -qq >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; } ||
    die "apt-get install ${missing[*]} failed"
  did+=("installed ${missing[*]}")
fi
if ! docker info >/dev/null 2>&1; then
  can_root || die "the Docker engine is not running and starting it needs root (dockerd &)"
  log_file=/var/log/sensor-streaming-dockerd.log
  log "starting dockerd (log $log_file)"
  as_root setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
  dockerd_pid=$!
  deadline=$((SECONDS + TIMEOUT_S))
  until docker info >/dev/null 2>&1; do
    kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited at start; see the end of $log_file: $(tail -n 1 "$log_file")"
    ((SECONDS < deadline)) || die "dockerd did not answer within ${TIMEOUT_S}s; see $log_file"
    sleep 1
  done
  did+=("started dockerd")
fi
((${#did[@]} > 0)) || did+=("engine already running")
line="$(printf '%s, ' "${did[@]}")"
ok "docker: ${line%, } ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
