#!/usr/bin/env bash
# Local stand-ins for the two public base images, for machines where no image
# registry answers: `python:3.11-slim` (Debian bookworm's Python 3.11, pip and venv,
# no git, like the official image) and `redis:7.2-alpine` (Debian's redis-server).
# Each root filesystem is made once with debootstrap and cached as a tarball under
# $LEVIATHAN_IMAGE_CACHE (default /var/cache/leviathan-images); later runs only
# `docker import` the tarball. An image already present in the engine is left alone.
#   usage: DOCKER_HOST=unix:///path/docker.sock scripts/docker/stand-in-images.sh
set -euo pipefail
cache=${LEVIATHAN_IMAGE_CACHE:-/var/cache/leviathan-images}
mirror=${LEVIATHAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-docker}
mkdir -p "$cache"

# The host's CA bundle goes into each image: package downloads may pass through an
# intercepting TLS proxy that the host trusts.
host_ca=/etc/ssl/certs/ca-certificates.crt

make_rootfs() { # name packages... -> $cache/<name>.tar
  local name=$1; shift
  local tarball="$cache/$name.tar"
  [ -s "$tarball" ] && return 0
  local root; root=$(mktemp -d "$cache/$name.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "stand-in $name: debootstrap (a few minutes, once)" >&2
  debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" bookworm "$root" "$mirror" >&2
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  if [ -f "$host_ca" ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$root"
  trap - EXIT
}

import_image() { # tag tarball changes...
  local tag=$1 tarball=$2; shift 2
  if "$docker" image inspect "$tag" >/dev/null 2>&1; then return 0; fi
  local args=()
  for change in "$@"; do args+=(--change "$change"); done
  "$docker" import "${args[@]}" "$tarball" "$tag" >/dev/null
  echo "stand-in $tag imported" >&2
}

# An image is needed when the engine has none by that name and no registry gives it.
need() {
  "$docker" image inspect "$1" >/dev/null 2>&1 && return 1
  timeout "${LEVIATHAN_PULL_TIMEOUT:-60}" "$docker" pull --quiet "$1" >/dev/null 2>&1 && return 1
  return 0
}

if need python:3.11-slim; then
  make_rootfs python-3.11 python3 python3-pip python3-venv python-is-python3 ca-certificates
  import_image python:3.11-slim "$cache/python-3.11.tar" \
    'ENV LANG=C.UTF-8' \
    'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["python3"]'
fi

if need redis:7.2-alpine; then
  make_rootfs redis-7 redis-server redis-tools
  # Like the official image: /data belongs to uid 999, and protected mode is off
  # because the server is reached over the container network (compose sets a
  # read-only root and its own user; the volume inherits /data's owner).
  tmp=$(mktemp -d)
  mkdir -p "$tmp/data" "$tmp/usr/local/bin"
  chown 999:999 "$tmp/data"
  cat >"$tmp/usr/local/bin/redis-entrypoint" <<'SH'
#!/bin/sh
if [ "${1:-}" = "redis-server" ]; then shift; exec redis-server --protected-mode no "$@"; fi
exec "$@"
SH
  chmod 755 "$tmp/usr/local/bin/redis-entrypoint"
  cp "$cache/redis-7.tar" "$tmp/image.tar"
  tar -C "$tmp" -rf "$tmp/image.tar" ./data ./usr/local/bin/redis-entrypoint
  import_image redis:7.2-alpine "$tmp/image.tar" \
    'ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]' \
    'CMD ["redis-server"]' 'WORKDIR /data' 'VOLUME /data'
  rm -rf "$tmp"
fi
