#!/usr/bin/env bash
# CI: Debian's chromium for the headless-browser test of the Prefect UI (tests/e2e/test_prefect_server.py).
# Playwright's own browser download does not work here; the distribution package does. Idempotent.
# Without root or apt-get it only says so: the browser test then skips, naming this script.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium || command -v chromium-browser) (already installed)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed, and this needs root on Debian/Ubuntu (apt-get install -y chromium);" \
       "the browser test will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
