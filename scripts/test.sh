#!/usr/bin/env bash
# Runs every test of the workspace. The Redis tier's tests start their own
# redis-server; this installs it first where it is missing (Debian/Ubuntu, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for every Redis test; redis-cli (redis-tools) beside it, for looking
# at the clusters the cluster tests start.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="redis-server"
command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  # The package starts a system-wide server; the tests start their own.
  ($SUDO service redis-server stop || true) >/dev/null 2>&1
fi

cargo test --workspace --all-features "$@"
