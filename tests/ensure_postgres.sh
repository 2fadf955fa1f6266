#!/bin/sh
# Makes sure a PostgreSQL server can be started by the tests (tests/conftest.py starts a throw-away cluster
# with initdb + pg_ctl). On a fresh Debian machine run as root (CI), installs Debian's postgresql package.
# Never fails the build: without a server the PostgreSQL tests are skipped, saying why.
if command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests: installing PostgreSQL (apt-get install postgresql) for the PostgreSQL store tests"
    export DEBIAN_FRONTEND=noninteractive
    if (apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql) >/tmp/looplab-apt.log 2>&1
    then
        exit 0
    fi
    echo "tests: installing PostgreSQL failed (see /tmp/looplab-apt.log); the PostgreSQL tests will be skipped"
else
    echo "tests: no PostgreSQL server (pg_ctl) found and not root: the PostgreSQL tests will be skipped;" \
         "install Debian's postgresql package to run them"
fi
exit 0
