#!/usr/bin/env bash
# Installs, once per machine, what the corporate-network suite (test/integration/proxy.test.ts)
# needs from Debian's packages: tinyproxy (the HTTP proxy the IdP is reachable through) and
# iproute2 (`ip netns`, for the network namespace that only the proxy can reach). The suite makes
# the namespace itself and needs root for it; without root it fails and says so.
set -euo pipefail
. "$(dirname "$0")/apt.sh"

apt_ensure ensure-proxy tinyproxy:tinyproxy ip:iproute2
# Debian's package starts a system-wide tinyproxy on port 8888; the tests start their own.
if [ -n "$APT_INSTALLED" ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet tinyproxy 2>/dev/null; then
  $SUDO systemctl disable --now tinyproxy >/dev/null 2>&1 || true
fi
