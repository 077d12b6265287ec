#!/usr/bin/env bash
# Installs, once per machine, Debian's glewlwyd (an independent OpenID Connect server written in
# C) and sqlite3, which the Glewlwyd core and integration tests start on 127.0.0.1
# (test/support/glewlwyd.ts). apt-get update runs only when something is missing.
set -euo pipefail
. "$(dirname "$0")/apt.sh"

apt_ensure ensure-glewlwyd glewlwyd:glewlwyd sqlite3:sqlite3 \
  || { echo "ensure-glewlwyd: the Glewlwyd tests fail without glewlwyd and sqlite3" >&2; exit 1; }
# The package must bring its OIDC plugin and its database schema; a partial install is an error
# here, not a confusing failure inside the tests.
for f in /usr/bin/glewlwyd /usr/bin/sqlite3 /usr/lib/glewlwyd/plugin /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz /usr/share/glewlwyd/webapp; do
  [ -e "$f" ] || { echo "ensure-glewlwyd: $f is missing after installing glewlwyd" >&2; exit 1; }
done
echo "ensure-glewlwyd: ready ($(dpkg-query -W -f='${Version}' glewlwyd 2>/dev/null || echo unknown))"
