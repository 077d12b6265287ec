#!/usr/bin/env bash
# Makes Debian's kubectl (package `kubernetes-client`) available to the terminal-access suites
# (the kubeconfig `exec` proof of oidc-token), once per machine. Installed with apt-get where it
# can be; where another package already owns /usr/bin/kubectl (Google Cloud SDK's `kubectl`
# package conflicts with it), the .deb is fetched with `apt-get download` and unpacked into
# .vscode-test/kubernetes-client/ instead, leaving the system alone. Prints the kubectl path.
set -euo pipefail
. "$(dirname "$0")/apt.sh"

root="$(cd "$(dirname "$0")/.." && pwd)"
local_bin="$root/.vscode-test/kubernetes-client/usr/bin/kubectl"

if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q 'ok installed'; then
  echo /usr/bin/kubectl
  exit 0
fi
if [ -x "$local_bin" ]; then
  echo "$local_bin"
  exit 0
fi
apt_sudo ensure-kubectl
if ! dpkg -S /usr/bin/kubectl >/dev/null 2>&1; then
  apt_install ensure-kubectl kubernetes-client
  echo /usr/bin/kubectl
  exit 0
fi
echo "ensure-kubectl: /usr/bin/kubectl belongs to another package; unpacking kubernetes-client into .vscode-test/" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# A new machine may have no package lists yet: update once, then try again.
(cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1) \
  || { $SUDO apt-get update -qq && (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null); }
mkdir -p "$root/.vscode-test/kubernetes-client"
dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$root/.vscode-test/kubernetes-client"
echo "$local_bin"
