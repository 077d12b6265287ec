/**
 * The integrated terminal's way to this window's sessions: opens the window's terminal channel,
 * puts the `oidc-token` wrapper on the terminals' PATH and the channel's address and secret in
 * their environment (context.environmentVariableCollection, not persisted: a reloaded window has
 * a new channel), and answers through the core's token service with the window's consent.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Logger } from '../core/logger';
import type { StoredSession } from '../core/sessions/sessions';
import { ENV_CLI, ENV_NODE, ENV_SECRET, ENV_SOCKET } from '../core/terminal/protocol';
import { TerminalChannel } from '../core/terminal/server';
import { serveTokenRequest, type TerminalProvider } from '../core/terminal/tokenService';
import { writeWrapper } from '../core/terminal/wrapper';
import type { OidcAuthenticationProvider } from './provider';
import type { TerminalConsent } from './terminalConsent';

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
