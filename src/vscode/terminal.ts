/**
 * The integrated terminal's way to this window's sessions: opens the window's terminal channel,
 * puts the `oidc-token` wrapper on the terminals' PATH and the channel's address and secret in
 * their environment (context.environmentVariableCollection, not persisted: a reloaded window has
 * a new channel), and answers through the core's token service with the window's consent.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Logger } from '../core/logger';
import type { StoredSession } from '../core/sessions';
import { ENV_CLI, ENV_NODE, ENV_SECRET, ENV_SOCKET } from '../core/terminal/protocol';
import { TerminalChannel } from '../core/terminal/server';
import { serveTokenRequest, type TerminalProvider } from '../core/terminal/tokenService';
import type { OidcAuthenticationProvider } from './provider';
import type { TerminalConsent } from './terminalConsent';

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

export async function openTerminalAccess(
  context: vscode.ExtensionContext,
  providers: () => readonly OidcAuthenticationProvider[],
  consent: TerminalConsent,
  log: Logger,
): Promise<vscode.Disposable> {
  const storage = context.globalStorageUri.fsPath;
  const find = (id: string): TerminalProvider | undefined => {
    const p = providers().find((x) => x.identity.id === id);
    return p && { id: p.identity.id, label: p.identity.label, sessions: p.sessions };
  };
  const channel = await TerminalChannel.open(
    path.join(storage, 'terminal'),
    (request) =>
      serveTokenRequest(request, {
        provider: find,
        consent: (provider, session) => consent.allowed(provider, session),
        signIn: (provider, scopes) => signIn(providers, provider, scopes),
        log,
      }),
    log,
  );
  const bin = writeWrapper(path.join(storage, 'bin'));
  const env = context.environmentVariableCollection;
  env.persistent = false;
  env.description = vscode.l10n.t('Lets `oidc-token` get tokens of your OpenID Connect session (asks once per account).');
  env.replace(ENV_SOCKET, channel.address);
  env.replace(ENV_SECRET, channel.secret);
  env.replace(ENV_NODE, process.execPath);
  env.replace(ENV_CLI, context.asAbsolutePath(path.join('dist', 'oidc-token.js')));
  env.prepend('PATH', bin + path.delimiter);
  log.info(`Terminal: command-line tools reach this window at ${channel.address}; oidc-token is in ${bin}.`);
  return new vscode.Disposable(() => {
    env.clear();
    void channel.close().catch((err: unknown) => log.warn(`Terminal: could not close the channel: ${String(err)}`));
  });
}

/** Writes the wrapper (only when it changed: every window writes the same one) and returns its folder. */
function writeWrapper(bin: string): string {
  mkdirSync(bin, { recursive: true });
  const [name, content] = process.platform === 'win32' ? ['oidc-token.cmd', WINDOWS_WRAPPER] : ['oidc-token', POSIX_WRAPPER];
  const file = path.join(bin, name);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== content) writeFileSync(file, content, { mode: 0o755 });
  if (process.platform !== 'win32') chmodSync(file, 0o755);
  return bin;
}

/** `--sign-in`: the provider's usual sign-in (browser or device code) in this window. */
async function signIn(
  providers: () => readonly OidcAuthenticationProvider[],
  target: TerminalProvider,
  scopes: readonly string[],
): Promise<StoredSession | undefined> {
  const provider = providers().find((p) => p.identity.id === target.id);
  if (!provider) return undefined;
  const session = await provider.signIn(scopes);
  return (await provider.sessions?.getSessionsWithoutRefresh())?.find((s) => s.id === session.id);
}
