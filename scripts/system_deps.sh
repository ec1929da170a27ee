#!/usr/bin/env bash
# What the tests need from the operating system, installed when missing (needs root or sudo):
# Debian's chromium (browser tests) and a PostgreSQL server (the review workspace's tests start their own).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
echo "Installing Debian packages for the tests: ${missing[*]}..."
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || \
  echo "warning: could not install ${missing[*]}; the tests that need them will fail with a message saying so" >&2
