#!/usr/bin/env bash
# CI: Debian's PostgreSQL binaries for the scale-out test (tests/e2e/test_scale_out.py, tests/stack.py), which
# starts its own server with initdb + pg_ctl in a temporary folder on a loopback port (no system service is used).
# Idempotent. Without root or apt-get it only says so: the scale-out test then skips, naming this script.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | tail -1) (already installed)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "postgresql: not installed, and this needs root on Debian/Ubuntu (apt-get install -y postgresql);" \
       "the scale-out test will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
