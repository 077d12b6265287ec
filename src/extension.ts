/** Activation: settings → provider, commands, and the Accounts-menu entry. */
import { mkdirSync } from 'node:fs';
import * as vscode from 'vscode';
import { IssuerCache } from './core/protocol/discovery';
import { setTranslator } from './core/l10n';
import { loadPageTemplates, type PageTemplates } from './core/flows/pages';
import { createLogger } from './vscode/log';
import { OidcAuthenticationProvider, PROVIDER_ID, PROVIDER_LABEL, type ProviderDeps } from './vscode/provider';
import { ProviderRegistry } from './vscode/providerRegistry';
import { ProviderRegistration } from './vscode/mcpAuthorization';
import { DEFAULT_SCOPES, readProviderConfig, SETTINGS_SECTION } from './vscode/settings';
import { createApi, type OidcAuthApi } from './vscode/api';
import { registerCommands } from './vscode/commands';
import { UriCallbacks } from './vscode/uriCallbacks';
import { openTerminalAccess } from './vscode/terminal';
import { TerminalConsent } from './vscode/terminalConsent';
import { errorMessage } from './core/errors';

export function activate(context: vscode.ExtensionContext): OidcAuthApi {
  setTranslator(vscode.l10n.t); // the core's messages, in the user's language
  const channel = vscode.window.createOutputChannel('OpenID Connect', { log: true });
  const log = createLogger(channel);
  const issuers = new IssuerCache(log);
  // The shared state's watcher sees nothing inside a folder that does not exist yet.
  try {
    mkdirSync(context.globalStorageUri.fsPath, { recursive: true });
  } catch (err) {
    log.warn(`Could not create the global storage folder: ${errorMessage(err)}`);
  }
  const uriCallbacks = new UriCallbacks(context.extension.id, log);
  // Read the page templates only when a sign-in first needs them: activation stays cheap.
  let templates: PageTemplates | undefined;
  const deps: ProviderDeps = {
    secrets: context.secrets,
    globalStorage: context.globalStorageUri,
    issuers,
    log,
    get templates() {
      return (templates ??= loadPageTemplates(context.asAbsolutePath('media')));
    },
    uriCallbacks,
    showLog: () => channel.show(),
  };
  const provider = new OidcAuthenticationProvider(deps, {
    id: PROVIDER_ID,
    label: PROVIDER_LABEL,
    readConfig: readProviderConfig,
    primary: true,
  });
  const named = new ProviderRegistry(deps);
  named.sync();
  // Announces the issuer as the authorization server this provider answers MCP servers for.
  const registration = new ProviderRegistration(PROVIDER_ID, PROVIDER_LABEL, provider, log, provider.issuer);
  // `oidc-token` in the integrated terminal: tokens for command-line tools, behind a consent.
  const terminalConsent = new TerminalConsent(context.globalState, log);
  openTerminalAccess(context, () => [provider, ...named.providers], terminalConsent, log).then(
    (access) => context.subscriptions.push(access),
    (err: unknown) => log.warn(`Terminal: command-line tools cannot get tokens in this window: ${errorMessage(err)}`),
  );

  context.subscriptions.push(
    channel,
    provider,
    named,
    registration,
    vscode.window.registerUriHandler(uriCallbacks),
    ...registerCommands(provider, () => [provider, ...named.providers], context.extension.id, () => channel.show(), terminalConsent),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SETTINGS_SECTION}.providers`)) named.sync();
      if (e.affectsConfiguration(SETTINGS_SECTION)) {
        provider.applyConfig();
        registration.update(provider.issuer);
        offerSignIn();
      }
    }),
    provider.onDidChangeSessions((e) => {
      if (e.removed?.length) offerSignIn();
    }),
  );

  /**
   * Asks VS Code for a session without creating one. When there is none, VS Code puts
   * "Sign in with OpenID Connect to use …" in the Accounts menu; choosing it signs in.
   */
  function offerSignIn(): void {
    // Only when signed out: with a session present, VS Code would instead ask the user to grant
    // this extension access to it, which it does not need.
    void provider.listSessions().then(async (sessions) => {
      if (sessions.length > 0) return;
      const scopes = vscode.workspace.getConfiguration(SETTINGS_SECTION).get<string[]>('scopes') ?? DEFAULT_SCOPES;
      await vscode.authentication.getSession(PROVIDER_ID, scopes, { createIfNone: false });
    }).then(undefined, (err: unknown) => {
      log.debug(`Could not add the Accounts menu entry: ${errorMessage(err)}`);
    });
  }
  offerSignIn();
  return createApi(() => [provider, ...named.providers]);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
