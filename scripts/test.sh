#!/usr/bin/env bash
# Runs every test of the workspace. The Redis tier's tests start their own
# redis-server; this installs it first where it is missing (Debian/Ubuntu, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing it" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  # The package starts a system-wide server; the tests start their own.
  ($SUDO service redis-server stop || true) >/dev/null 2>&1
fi

cargo test --workspace --all-features "$@"
