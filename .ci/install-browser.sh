#!/usr/bin/env bash
# Install the browser the real-browser test (tests/test_browser.py) drives: Debian's Chromium.
# Idempotent: does nothing when /usr/bin/chromium is already there. Playwright's own browser download
# (`playwright install`) is not used: it cannot reach its servers on the build machines.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: $CHROMIUM is missing and apt-get is not available;" \
        "install Chromium so that it is at $CHROMIUM (the browser test is skipped without it)" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: installing Chromium needs root (or sudo): run" \
            "'apt-get update && apt-get install -y chromium' as root" >&2
        exit 1
    fi
fi

echo "install-browser: installing Debian's chromium with apt-get"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium

if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
