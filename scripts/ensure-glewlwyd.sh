#!/usr/bin/env bash
# Installs, once per machine, Debian's glewlwyd (an independent OpenID Connect server written in
# C) and sqlite3, which the Glewlwyd core and integration tests start on 127.0.0.1
# (test/support/glewlwyd.ts). apt-get update runs only when something is missing.
set -euo pipefail

need_apt=()
command -v glewlwyd >/dev/null 2>&1 || [ -x /usr/bin/glewlwyd ] || need_apt+=(glewlwyd)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-glewlwyd: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-glewlwyd: installing ${need_apt[*]} needs root or sudo (the Glewlwyd tests fail without them)" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The package must bring its OIDC plugin and its database schema; a partial install is an error
# here, not a confusing failure inside the tests.
for f in /usr/bin/glewlwyd /usr/bin/sqlite3 /usr/lib/glewlwyd/plugin /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz /usr/share/glewlwyd/webapp; do
  [ -e "$f" ] || { echo "ensure-glewlwyd: $f is missing after installing glewlwyd" >&2; exit 1; }
done
echo "ensure-glewlwyd: ready ($(dpkg-query -W -f='${Version}' glewlwyd 2>/dev/null || echo unknown))"
