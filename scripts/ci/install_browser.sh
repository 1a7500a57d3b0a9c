#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for the browser tests of
# `coderefl view` (tests/view/test_browser.py, driven by selenium from the
# dev extra). Installs only what is missing; idempotent.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -eq 0 ]; then
    echo "chromium and chromedriver already installed"
    exit 0
fi
echo "installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
chromium --version
