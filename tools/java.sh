#!/bin/sh
# A Java runtime (17 or newer) for the Spark engine's tests (pyspark starts a JVM).
# `make test` runs this first: when java is missing it is installed from Debian's
# packages if we are root, and otherwise we stop and say what to install.
set -eu
if command -v java >/dev/null 2>&1; then
    version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    [ "${version:-0}" -ge 17 ] && exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's Java runtime for the Spark tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
    exit 0
fi
echo "The Spark tests need a Java runtime, 17 or newer:" >&2
echo "    sudo apt-get install default-jre-headless" >&2
exit 1
