#!/usr/bin/env bash
# Installs, once per machine, what the corporate-network suite (test/integration/proxy.test.ts)
# needs from Debian's packages: tinyproxy (the HTTP proxy the IdP is reachable through) and
# iproute2 (`ip netns`, for the network namespace that only the proxy can reach). The suite makes
# the namespace itself and needs root for it; without root it fails and says so.
set -euo pipefail

need_apt=()
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || need_apt+=(tinyproxy)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-proxy: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's package starts a system-wide tinyproxy on port 8888; the tests start their own.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet tinyproxy 2>/dev/null; then
    $SUDO systemctl disable --now tinyproxy >/dev/null 2>&1 || true
  fi
fi
