#!/usr/bin/env bash
# Makes a local stand-in for node:20-bookworm-slim when Docker Hub cannot be
# reached (air-gapped CI, a registry that does not answer): a minimal Debian
# bookworm root from debootstrap plus this machine's Node 20 (node, npm,
# corepack) under /usr/local, and the `node` user with uid/gid 1000, the same
# layout as the official image. The result is imported with `docker import`
# and tagged IMAGE (default node:20-bookworm-slim), so the project's
# Dockerfile builds unchanged and without pulling.
#
#   bash deploy/docker/local-node-base.sh            # skips when IMAGE exists
#   FORCE=1 bash deploy/docker/local-node-base.sh    # rebuild
#
# Needs root, debootstrap, a Debian mirror (MIRROR) and node >= 20 on PATH.
# debootstrap takes minutes: the image is the cache, so later runs return at once.
set -euo pipefail

IMAGE=${IMAGE:-node:20-bookworm-slim}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
ROOTFS_CACHE=${ROOTFS_CACHE:-/var/cache/sensor-streaming/debootstrap-${SUITE}.tar}

log() { printf '[local-node-base] %s\n' "$*" >&2; }

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already present; FORCE=1 rebuilds it"
  exit 0
fi

node_bin=$(command -v node) || { log "node is not on PATH"; exit 1; }
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[[ $node_major == 20 ]] || { log "node on PATH is $("$node_bin" --version), need 20.x"; exit 1; }
node_lib=$(dirname "$(readlink -f "$node_bin")")/../lib/node_modules
[[ -d $node_lib/npm ]] || { log "no npm next to $node_bin ($node_lib/npm)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install -y debootstrap"; exit 1; }

work=$(mktemp -d /tmp/local-node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

if [[ -f $ROOTFS_CACHE ]]; then
  log "reusing debootstrap root $ROOTFS_CACHE"
  mkdir -p "$root"
  tar -C "$root" -xf "$ROOTFS_CACHE"
else
  log "debootstrap $SUITE from $MIRROR (minutes)"
  # ca-certificates: npm and pnpm talk TLS to the registry during the build.
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR" >&2
  # Slim like the official image: no apt lists, docs, man pages or locales.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  mkdir -p "$(dirname "$ROOTFS_CACHE")"
  tar -C "$root" -cf "$ROOTFS_CACHE" .
fi

log "adding node $("$node_bin" --version) from $node_bin"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$node_lib/npm" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
if [[ -d $node_lib/corepack ]]; then
  cp -a "$node_lib/corepack" "$root/usr/local/lib/node_modules/corepack"
  ln -sf ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
fi
# The official image's user: uid/gid 1000, home /home/node.
chroot "$root" /usr/sbin/groupadd --gid 1000 node
chroot "$root" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$root" /usr/local/bin/node --version >/dev/null

log "importing as $IMAGE"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$("$node_bin" -p process.versions.node)" \
  --change 'CMD ["node"]' \
  --change 'LABEL org.sensor-streaming.local-base=debootstrap' \
  - "$IMAGE" >/dev/null
log "done: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}')"
