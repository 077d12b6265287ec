#!/usr/bin/env bash
# CI's check of the README's first command: runs `npm start` exactly as a newcomer does (so
# scripts/ensure-test-vscode.sh runs inside npm, into whatever $OIDC_AUTH_VSCODE_CACHE is: CI
# gives it an empty folder), waits for the demo to say it is running, then checks that
#   - the VS Code it prints answers with its workbench page,
#   - the demo IdP answers its discovery document on [::1] (the address the extension uses),
#   - the packaged extension is installed in that VS Code,
# and stops it with Ctrl-C (SIGINT), as the README says. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
limit=${OIDC_DEMO_SMOKE_TIMEOUT:-900}
log=$(mktemp)
setsid npm start > "$log" 2>&1 &
pid=$!
fail() {
  echo "demo-smoke: FAILED: $*"
  echo "----- npm start output -----"; cat "$log"; echo "-----"
  kill -INT -- "-$pid" 2>/dev/null; sleep 3; kill -KILL -- "-$pid" 2>/dev/null
  exit 1
}
start=$(date +%s)
until grep -q 'OpenID Connect demo is running' "$log"; do
  kill -0 "$pid" 2>/dev/null || fail "npm start exited before the demo was running"
  [ $(( $(date +%s) - start )) -lt "$limit" ] || fail "not running after ${limit} s"
  sleep 2
done
echo "demo-smoke: running after $(( $(date +%s) - start )) s"
vscode=$(grep -o 'Open VS Code: *http[^ ]*' "$log" | awk '{print $NF}')
issuer=$(grep -o 'Identity provider: *http[^ ]*' "$log" | awk '{print $NF}')
[ -n "$vscode" ] && [ -n "$issuer" ] || fail "the demo did not print its VS Code and IdP addresses"
page=$(curl -fsS --max-time 20 "$vscode") || fail "VS Code at $vscode did not answer"
grep -q 'workbench' <<<"$page" || fail "VS Code at $vscode answered without its workbench"
disco=$(curl -fsS -g --max-time 20 "$issuer/.well-known/openid-configuration") || fail "IdP discovery at $issuer did not answer"
grep -qF "\"issuer\":\"$issuer\"" <<<"$disco" || fail "IdP discovery names another issuer: $disco"
ls .vscode-test/demo/code-server/extensions 2>/dev/null | grep -q '^oidc-auth\.oidc-auth-' \
  || fail "the packaged extension is not installed in the demo VS Code"
kill -INT -- "-$pid" 2>/dev/null
for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -0 "$pid" 2>/dev/null && fail "did not stop within 30 s of Ctrl-C"
grep -q 'demo: stopped' "$log" || fail "stopped without saying so"
echo "demo-smoke: VS Code, IdP and extension checked; stopped on Ctrl-C"
rm -f "$log"
