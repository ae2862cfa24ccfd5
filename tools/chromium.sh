#!/bin/sh
# Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium).
# `make test` runs this first: when chromium is missing it is installed from
# Debian's packages if we are root, and otherwise we stop and say what to install.
set -eu
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "The browser tests need Debian's chromium at /usr/bin/chromium:" >&2
echo "    sudo apt-get install chromium" >&2
exit 1
