#!/usr/bin/env bash
# Install the system tools the test suite uses, from Debian packages, when missing.
#   docker-compose: validates docker-compose.yml offline (no Docker engine needed).
#   chromium:       the browser tests (driven by Playwright, never 'playwright install').
#   iproute2, util-linux: 'ip' and 'unshare' for the loopback-only network namespace.
#   nftables:       loss and cuts on the impaired links of bench/netlab.py ('tc' is iproute2's).
#   espeak-ng, sox: speech with known text for the transcription tests and benchmark.
#   fonts-dejavu-core: a Unicode font for progress report PDFs (without it they fall
#                   back to a Latin-1 core font, and the tests write names beyond it).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'ensure-tools: installing %s\n' "${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
