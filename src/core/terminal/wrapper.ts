/**
 * The `oidc-token` command on the terminals' PATH: a tiny shell (or cmd) wrapper that runs the
 * bundled tool (ENV_CLI) with the Node of the window's extension host (ENV_NODE; VS Code's Electron
 * acts as Node with ELECTRON_RUN_AS_NODE), so no Node need be installed. Its text is the same for
 * every window and version; the paths come from each terminal's environment.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ENV_CLI, ENV_NODE } from './protocol';

const POSIX_WRAPPER = `#!/bin/sh
# oidc-token: tokens of the VS Code window's OpenID Connect session for command-line tools
# (written by the OpenID Connect extension; the same for every window).
if [ -z "$${ENV_CLI}" ] || [ -z "$${ENV_NODE}" ]; then
  echo "oidc-token: not in a VS Code integrated terminal with the OpenID Connect extension; open a new terminal." >&2
  exit 7
fi
ELECTRON_RUN_AS_NODE=1 exec "$${ENV_NODE}" "$${ENV_CLI}" "$@"
`;

const WINDOWS_WRAPPER = `@echo off\r
if "%${ENV_CLI}%"=="" (echo oidc-token: not in a VS Code integrated terminal with the OpenID Connect extension; open a new terminal. 1>&2 & exit /b 7)\r
set ELECTRON_RUN_AS_NODE=1\r
"%${ENV_NODE}%" "%${ENV_CLI}%" %*\r
`;

/** Writes the wrapper into `bin` (only when it changed: every window writes the same one); returns `bin`. */
export function writeWrapper(bin: string, platform: NodeJS.Platform = process.platform): string {
  mkdirSync(bin, { recursive: true });
  const [name, content] = platform === 'win32' ? ['oidc-token.cmd', WINDOWS_WRAPPER] : ['oidc-token', POSIX_WRAPPER];
  const file = path.join(bin, name);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== content) writeFileSync(file, content, { mode: 0o755 });
  if (platform !== 'win32') chmodSync(file, 0o755);
  return bin;
}
