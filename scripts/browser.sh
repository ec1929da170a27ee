#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; install it when it is missing (needs root or sudo).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing Debian's chromium for the browser tests..."
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null || \
  echo "warning: could not install chromium; the browser tests will fail with a message saying so" >&2
