#!/bin/sh
# Makes sure Debian's chromium is at /usr/bin/chromium for the dashboard browser test.
# Exit 0: it is there (already, or installed now). Non-zero: it cannot be had here
# (not root, no apt-get, or the install failed); the test then skips with the reason.
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: $CHROMIUM is missing; installing it needs root" \
         "(run: sudo apt-get install -y chromium)" >&2
    exit 3
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >&2; then
    echo "ensure_chromium: apt-get update failed" >&2
    exit 4
fi
if ! apt-get install -y -q --no-install-recommends chromium >&2; then
    echo "ensure_chromium: apt-get install chromium failed" >&2
    exit 5
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_chromium: chromium installed but $CHROMIUM is missing" >&2
    exit 6
fi
exit 0
