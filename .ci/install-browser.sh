#!/usr/bin/env bash
# Install the browser the real-browser test (tests/test_browser.py) drives: Debian's Chromium.
# Idempotent: does nothing when /usr/bin/chromium is already there. Playwright's own browser download
# (`playwright install`) is not used: it cannot reach its servers on the build machines.
#
#   bash .ci/install-browser.sh                 install, or fail saying why (CI, `make test-browser`)
#   bash .ci/install-browser.sh --if-possible   install when this can without asking (root, or sudo
#                                               without a password); otherwise say so and exit 0
#                                               (`make test`, which then says which tests did not run)
set -euo pipefail

CHROMIUM=/usr/bin/chromium
IF_POSSIBLE=0
if [ "${1:-}" = "--if-possible" ]; then
    IF_POSSIBLE=1
fi

cannot() {
    if [ "$IF_POSSIBLE" -eq 1 ]; then
        echo "install-browser: $* (the browser tests will be skipped)" >&2
        exit 0
    fi
    echo "install-browser: $*" >&2
    exit 1
}

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    cannot "$CHROMIUM is missing and apt-get is not available; install Chromium so that it is at $CHROMIUM"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if [ "$IF_POSSIBLE" -eq 1 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    elif [ "$IF_POSSIBLE" -eq 0 ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        cannot "installing Chromium needs root: run 'sudo bash .ci/install-browser.sh'" \
            "(or 'apt-get update && apt-get install -y chromium' as root)"
    fi
fi

echo "install-browser: installing Debian's chromium with apt-get"
if ! $SUDO apt-get update || ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; then
    cannot "apt-get could not install chromium"
fi

if [ ! -x "$CHROMIUM" ]; then
    cannot "apt-get finished but $CHROMIUM is still missing"
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
