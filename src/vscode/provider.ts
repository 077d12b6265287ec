/**
 * A VS Code AuthenticationProvider (`oidc`, or `oidc.<id>` for an `oidcAuth.providers` entry):
 * adapts the core SessionManager to VS Code's sessions, change events, settings, progress and
 * errors, and serves an injected token (CI) when the environment provides one.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../core/config';
import { OidcError } from '../core/errors';
import { ChosenFlow } from '../core/flows/choose';
import { DeviceCodeFlow } from '../core/flows/deviceCode';
import type { SignInFlow } from '../core/flows/flow';
import { LoopbackFlow } from '../core/flows/loopback';
import { UriHandlerFlow, type UriCallbackChannel } from '../core/flows/uriHandler';
import type { IssuerCache } from '../core/protocol/issuer';
import type { Logger } from '../core/logger';
import type { PageTemplates } from '../core/flows/pages';
import { SessionManager, type EndedSession, type RemoveResult, type SessionsChange } from '../core/sessions/sessionManager';
import { scopeKey } from '../core/sessions/scopes';
import type { StoredSession } from '../core/sessions/sessions';
import { clientSecretKey, registrationKey, storageKeyOf } from '../core/storage/keys';
import { parseRegistration, registerClient } from '../core/protocol/registration';
import { openInBrowser } from './browser';
import { vscodeDeviceCodePresenter } from './deviceCodePresenter';
import { describeEnvironment } from './environment';
import { requestedAuthorizationServer } from './mcpAuthorization';
import { authorizationServerMismatch, sameAuthorizationServer } from '../core/protocol/authorizationServer';
import { firstAnnouncement, InjectedToken, injectionVariable } from './injectedToken';
import { VscodeSecretStore } from './secretStore';
import { sessionStorage, watchStoredSessions } from './sessionStorage';
import { askClientSecret } from './clientSecret';
import { ServiceAccount } from './serviceAccount';
import { rememberClient } from './storedElsewhere';
import { fallbackMessage, localizedPageStrings, logSignInFailure, reportError, withCancellableProgress } from './ui';

export const PROVIDER_ID = 'oidc';
export const PROVIDER_LABEL = 'OpenID Connect';

export interface ProviderIdentity {
  /** `oidc` or `oidc.<id>`. */
  id: string;
  label: string;
  /** The provider's settings; throws an OidcError of kind `config` when they are not usable. */
  readConfig: () => ProviderConfig;
  /** The top-level provider drives the walkthrough's context keys. */
  primary: boolean;
}

export interface ProviderDeps {
  secrets: vscode.SecretStorage;
  /** The extension's global storage folder, shared by every window of this machine. */
  globalStorage: vscode.Uri;
  issuers: IssuerCache;
  log: Logger;
  templates: PageTemplates;
  uriCallbacks: UriCallbackChannel;
  showLog: () => void;
}

export class OidcAuthenticationProvider implements vscode.AuthenticationProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<vscode.AuthenticationProviderAuthenticationSessionsChangeEvent>();
  readonly onDidChangeSessions = this.emitter.event;
  private readonly store: VscodeSecretStore;
  private manager: SessionManager | undefined;
  private configError: OidcError | undefined;
  private storeWatch: vscode.Disposable | undefined;
  private readonly injected: InjectedToken | undefined;
  /** Set instead of `manager` for a service account (`grant: "clientCredentials"`). */
  private service: ServiceAccount | undefined;
  /** Settings without a client ID, until a client is registered (RFC 7591) or found registered. */
  private awaitingRegistration: ProviderConfig | undefined;
  private restoring: Promise<void> = Promise.resolve();
  /** The manager's client was registered dynamically. */
  private dynamicClient = false;

  constructor(
    readonly deps: ProviderDeps,
    readonly identity: ProviderIdentity,
  ) {
    this.store = new VscodeSecretStore(deps.secrets);
    this.injected = InjectedToken.fromEnvironment(identity.id);
    const variable = injectionVariable(identity.id);
    if (this.injected && !firstAnnouncement(variable)) {
      deps.log.info(`${identity.id}: still serving the access token from ${variable} (announced before).`);
    } else if (this.injected) {
      // A stray variable would silently replace sign-in for every extension: say so, once (also
      // when this provider is rebuilt, as a named provider is when its label changes).
      deps.log.warn(`${identity.id}: serving the access token from the environment variable ${variable} to every extension that asks; it is never refreshed or stored.`);
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'The environment variable {0} is set: {1} serves its token to every extension that asks, instead of signing in. Unset it unless this window runs CI or tests.',
          variable,
          identity.label,
        ),
      );
    }
    this.applyConfig();
  }

  /**
   * Reads the settings; a changed issuer or client id switches to that pair's sessions. Nothing
   * here signs out or revokes: sessions belong to their (issuer, client ID) pair and stay stored
   * when the settings move away (another issuer, a workspace's settings, a half-typed URL), and
   * come back when the settings return. Only sign-out revokes.
   */
  applyConfig(): void {
    let config: ProviderConfig | undefined;
    try {
      config = this.identity.readConfig();
      this.configError = undefined;
    } catch (err) {
      this.configError = err instanceof OidcError ? err : new OidcError('config', String(err));
    }
    const old = this.manager;
    if (!config && (old || this.service || this.awaitingRegistration)) {
      // An invalid value (often one being typed): "not configured" for new sign-ins, nothing else.
      this.deps.log.info(`${this.identity.id}: the settings are not usable for now (${this.configError?.message ?? ''}); sessions are kept.`);
      this.setContext('oidcAuth.configured', this.isConfigured);
      return;
    }
    const sameClient = old && config && (old.config.clientId === config.clientId || (config.clientId === '' && this.dynamicClient));
    if (old && config && sameClient && old.config.issuer.href === config.issuer.href) {
      // Scopes, flow or port changed: sessions stay, new sign-ins use the new values.
      const effective = { ...config, clientId: old.config.clientId };
      old.reconfigure(effective, this.createFlow(effective));
      this.setContext('oidcAuth.configured', this.isConfigured);
      return;
    }
    this.storeWatch?.dispose();
    this.storeWatch = undefined;
    old?.dispose();
    if (old) {
      // Another issuer or client: the old pair's sessions stay stored (refresh tokens intact) but
      // are no longer this provider's, so they are never offered to its callers.
      void old
        .getSessionsWithoutRefresh()
        .then((sessions) => {
          if (sessions.length) this.fire({ added: [], removed: sessions, changed: [] });
        })
        .catch((err: unknown) => this.deps.log.warn(`Could not read the sessions of the previous identity provider: ${String(err)}`));
    }
    this.service = config?.grant === 'clientCredentials' ? new ServiceAccount(config, this.identity, this.deps) : undefined;
    this.manager = undefined;
    this.dynamicClient = false;
    this.awaitingRegistration = config && !this.service && config.clientId === '' ? config : undefined;
    if (config && !this.service && !this.awaitingRegistration) {
      this.useManager(this.createManager(config));
    } else if (this.awaitingRegistration) {
      this.deps.log.info(`${this.identity.id}: no client ID set; a client will be registered at ${config!.issuer.href} when needed.`);
      this.restoring = this.restoreRegistration(this.awaitingRegistration).catch((err: unknown) =>
        this.deps.log.warn(`Could not read the client registration: ${String(err)}`),
      );
    } else if (!this.service) {
      this.deps.log.info(`${this.identity.id}: not configured: ${this.configError?.message ?? ''}`);
    }
    this.setContext('oidcAuth.configured', this.isConfigured);
    void this.updateSignedInContext().catch(() => undefined);
  }

  /** Makes `manager` this provider's, watching storage for other windows' changes. */
  private useManager(manager: SessionManager): void {
    this.manager = manager;
    const reload = () => void manager.reload().catch((err: unknown) => this.deps.log.warn(`Could not reload sessions: ${String(err)}`));
    // Other windows' sign-ins, sign-outs and refreshes.
    this.storeWatch = watchStoredSessions(this.deps, manager.key, this.store, reload);
    this.deps.log.info(`${this.identity.id}: using the identity provider ${manager.config.issuer.href} with client ${manager.config.clientId}.`);
    // The new issuer's sessions (if any were stored before) are this provider's now.
    void this.announceSwitch(manager);
  }

  /** A client registered earlier for this issuer (RFC 7591), if any. */
  private async restoreRegistration(config: ProviderConfig): Promise<void> {
    const registration = parseRegistration(await this.deps.secrets.get(registrationKey(config.issuer.href)), config.issuer.href);
    if (registration && this.awaitingRegistration === config) this.adoptRegistration(config, registration.clientId);
  }

  private adoptRegistration(config: ProviderConfig, clientId: string): void {
    this.awaitingRegistration = undefined;
    this.dynamicClient = true;
    this.useManager(this.createManager({ ...config, clientId }));
    void this.updateSignedInContext().catch(() => undefined);
  }

  /** Registers a public client at the IdP and keeps the registration in SecretStorage. */
  private async register(config: ProviderConfig): Promise<void> {
    const as = await this.deps.issuers.get(config.issuer);
    const registration = await registerClient(as, { issuer: config.issuer });
    await this.deps.secrets.store(registrationKey(config.issuer.href), JSON.stringify(registration));
    this.deps.log.info(`${this.identity.id}: registered the client ${registration.clientId} at ${config.issuer.href}.`);
    if (this.awaitingRegistration === config) this.adoptRegistration(config, registration.clientId);
  }

  async getSessions(
    scopes: readonly string[] | undefined,
    options?: vscode.AuthenticationProviderSessionOptions,
  ): Promise<vscode.AuthenticationSession[]> {
    const declined = this.declinedAuthorizationServer(options);
    if (declined) {
      this.deps.log.info(declined);
      return [];
    }
    if (this.injected) {
      return this.injected.sessions(options?.account);
    }
    if (this.service) return this.service.sessions(scopes);
    if (this.awaitingRegistration) await this.restoring;
    if (!this.manager) return [];
    const sessions = await this.manager.getSessions(scopes, options?.account?.id);
    // The walkthrough's last step: an extension asked for scopes of its own and got a session
    // (checked until it is set once: this is every caller's path).
    if (this.identity.primary && sessions.length && scopes && !this.contexts.get('oidcAuth.sessionShared') && scopeKey(scopes) !== scopeKey(this.manager.config.scopes)) {
      this.setContext('oidcAuth.sessionShared', true);
    }
    return sessions.map(toVscodeSession);
  }

  /** The storage key of the (issuer, client ID) pair in use, if any. */
  get storageKeyInUse(): string | undefined {
    return this.manager?.key;
  }

  /** Records the pair as one with sessions, for Show Status and Sign Out once settings move away. */
  private remember(manager: SessionManager): void {
    rememberClient(this.deps, { issuer: manager.config.issuer.href, clientId: manager.config.clientId }).catch((err: unknown) =>
      this.deps.log.debug(`Could not record the identity provider in use: ${String(err)}`),
    );
  }

  /** The current manager, for the API extensions get from `activate()`. */
  get sessions(): SessionManager | undefined {
    return this.manager;
  }

  async createSession(
    scopes: readonly string[],
    options?: vscode.AuthenticationProviderSessionOptions,
  ): Promise<vscode.AuthenticationSession> {
    const declined = this.declinedAuthorizationServer(options);
    if (declined) {
      this.deps.log.warn(declined);
      throw new OidcError('config', declined);
    }
    // VS Code names the account when it asks again for a known one: the IdP gets it as a hint.
    return this.signIn(scopes, undefined, options?.account);
  }

  /** The configured issuer, the authorization server this provider answers for. */
  get issuer(): string | undefined {
    try {
      return this.identity.readConfig().issuer.href;
    } catch {
      return undefined;
    }
  }

  /**
   * Why a request VS Code makes on behalf of an MCP server (`authorizationServer` set) is not
   * this provider's to answer: its tokens must never go to another authorization server.
   */
  private declinedAuthorizationServer(options: vscode.AuthenticationProviderSessionOptions | undefined): string | undefined {
    const requested = requestedAuthorizationServer(options);
    if (requested === undefined) return undefined;
    const issuer = this.issuer;
    return issuer && sameAuthorizationServer(issuer, requested) ? undefined : authorizationServerMismatch(this.identity.id, issuer, requested);
  }

  /** Signs in; `flowOverride` replaces the configured flow for this one attempt. */
  async signIn(
    scopes: readonly string[],
    flowOverride?: SignInFlow,
    account?: vscode.AuthenticationSessionAccountInformation,
  ): Promise<vscode.AuthenticationSession> {
    if (this.injected) {
      const { session, shownAgain } = this.injected.signIn();
      if (shownAgain) this.emitter.fire({ added: [session], removed: [], changed: [] });
      return session;
    }
    if (this.configError) {
      // Settings not usable now (sessions of the last usable ones are kept, but no new sign-in).
      reportError(this.configError, { showLog: this.deps.showLog });
      throw this.configError;
    }
    if (this.service) return this.signInServiceAccount(this.service, scopes);
    if (this.awaitingRegistration) {
      await this.restoring;
      const pending = this.awaitingRegistration;
      if (pending) {
        try {
          await this.register(pending);
        } catch (err) {
          this.deps.log.error(`Client registration failed: ${err instanceof Error ? err.message : String(err)}`);
          reportError(err, { showLog: this.deps.showLog });
          throw err;
        }
      }
    }
    const manager = this.manager;
    if (!manager) {
      const err = this.configError ?? new OidcError('config', 'OpenID Connect is not configured.');
      reportError(err, { showLog: this.deps.showLog });
      throw err;
    }
    const title = vscode.l10n.t('Signing in to {0}…', manager.config.issuer.host);
    try {
      // A client with a secret: asked once, at the first sign-in, and kept in SecretStorage.
      if (manager.config.useClientSecret && !(await this.deps.secrets.get(clientSecretKey(manager.config)))) {
        await askClientSecret(this.deps.secrets, manager.config, vscode.l10n.t('Client secret for {0}', this.identity.label));
      }
      const session = await withCancellableProgress(title, (signal, report) =>
        manager.createSession(scopes, {
          signal,
          report,
          ...(account ? { account: { id: account.id, label: account.label } } : {}),
          ...(flowOverride ? { flow: flowOverride } : {}),
          openBrowser: openInBrowser,
          templates: this.deps.templates,
          strings: localizedPageStrings(),
        }),
      );
      this.remember(manager);
      return toVscodeSession(session);
    } catch (err) {
      logSignInFailure(this.deps.log, err);
      // A refused secret is not kept: the next sign-in asks again.
      if (manager.config.useClientSecret && err instanceof OidcError && err.oauthError === 'invalid_client') {
        await this.deps.secrets.delete(clientSecretKey(manager.config));
      }
      const again = (flow?: SignInFlow) => void this.signIn(scopes, flow).catch(() => undefined);
      // Offer the device code only where the IdP has a device endpoint (discovery is cached).
      const as = await this.deps.issuers.get(manager.config.issuer).catch(() => undefined);
      const deviceCodeHelps = flowOverride?.id !== 'deviceCode' && as?.device_authorization_endpoint !== undefined;
      reportError(err, {
        showLog: this.deps.showLog,
        retry: () => again(flowOverride),
        ...(deviceCodeHelps ? { useDeviceCode: () => again(this.deviceCodeFlow()) } : {}),
      });
      throw err;
    }
  }

  /**
   * Asks for the client secret (password box) and keeps it in SecretStorage. Resolves with the
   * provider's config, or undefined when it has no sign-in client configured.
   */
  async enterClientSecret(): Promise<ProviderConfig | undefined> {
    const config = this.manager?.config;
    if (!config) return undefined;
    await askClientSecret(this.deps.secrets, config, vscode.l10n.t('Client secret for {0}', this.identity.label));
    this.deps.log.info(`${this.identity.id}: stored a client secret for ${config.clientId}.`);
    return config;
  }

  async removeSession(sessionId: string): Promise<void> {
    if (this.injected && sessionId === this.injected.id) {
      // An injected token is not ours to revoke: hide it for the life of this window.
      this.emitter.fire({ added: [], removed: [this.injected.hide()], changed: [] });
      return;
    }
    if (this.service && sessionId === this.service.sessionId) {
      const session = await this.service.remove();
      if (session) this.emitter.fire({ added: [], removed: [session], changed: [] });
      return;
    }
    await this.remove([sessionId]);
  }

  /** Sessions as stored, without refreshing anything (for sign-out and status). */
  async listSessions(): Promise<StoredSession[]> {
    return this.manager ? this.manager.getSessionsWithoutRefresh() : [];
  }

  /** The injected session, when the environment provides one and it is not hidden. */
  get injectedSession(): vscode.AuthenticationSession | undefined {
    return this.injected?.visible;
  }

  async remove(ids: string[]): Promise<RemoveResult> {
    if (!this.manager) return { removed: [] };
    const result = await this.manager.removeSessions(ids);
    if (result.revokeError) {
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'You are signed out in VS Code, but the identity provider could not be told to revoke the tokens: {0}',
          result.revokeError.message,
        ),
      );
    }
    return result;
  }

  get isConfigured(): boolean {
    if (this.configError) return false;
    return this.manager !== undefined || this.service !== undefined || this.awaitingRegistration !== undefined;
  }

  /** For Show Status: the service account's state, or undefined for a sign-in provider. */
  async serviceAccountStatus(): Promise<{ secretStored: boolean } | undefined> {
    return this.service?.status();
  }

  private async signInServiceAccount(service: ServiceAccount, scopes: readonly string[]): Promise<vscode.AuthenticationSession> {
    const session = await service.signIn(scopes);
    this.emitter.fire({ added: [session], removed: [], changed: [] });
    return session;
  }

  dispose(): void {
    this.storeWatch?.dispose();
    this.manager?.dispose();
    this.emitter.dispose();
  }

  private deviceCodeFlow(): SignInFlow {
    return new DeviceCodeFlow({ presenter: vscodeDeviceCodePresenter });
  }

  private createFlow(config: ProviderConfig): SignInFlow {
    return new ChosenFlow(
      config.flow,
      describeEnvironment(),
      (id) => {
        switch (id) {
          case 'loopback':
            return new LoopbackFlow(config.loopbackPort);
          case 'uriHandler':
            return new UriHandlerFlow(this.deps.uriCallbacks);
          case 'deviceCode':
            return this.deviceCodeFlow();
        }
      },
      (notice) => {
        void vscode.window.showInformationMessage(fallbackMessage(notice));
      },
    );
  }

  private createManager(config: ProviderConfig): SessionManager {
    const key = storageKeyOf(config);
    return new SessionManager({
      config,
      store: this.store,
      storage: sessionStorage(this.deps, key, this.store, this.identity.id),
      issuers: this.deps.issuers,
      flow: this.createFlow(config),
      log: this.deps.log,
      onDidChange: (change) => this.fire(change),
      clientSecret: () => Promise.resolve(this.deps.secrets.get(clientSecretKey(config))),
    });
  }

  private readonly contexts = new Map<string, boolean>();

  /** Context keys for the walkthrough and `when` clauses; set only when they change. */
  private setContext(key: string, value: boolean): void {
    if (!this.identity.primary || this.contexts.get(key) === value) return;
    this.contexts.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  private async updateSignedInContext(): Promise<void> {
    this.setContext('oidcAuth.signedIn', (await this.listSessions()).length > 0);
  }

  private fire(change: SessionsChange): void {
    void this.updateSignedInContext();
    this.emitter.fire({
      added: change.added.map(toVscodeSession),
      removed: change.removed.map(toVscodeSession),
      changed: change.changed.map(toVscodeSession),
    });
    if (change.ended?.length) this.announceEnded(change.ended);
  }

  private endedPending: EndedSession[] = [];

  /**
   * Tells the user, once for everything that ended together, that a session they did not sign
   * out of ended, and why: its token expired with no refresh token, or the IdP refused to renew
   * it (with the HTTP status). Offers to sign in again with the same scopes.
   */
  private announceEnded(ended: EndedSession[]): void {
    const first = this.endedPending.length === 0;
    this.endedPending.push(...ended);
    if (!first) return;
    setTimeout(() => {
      const all = this.endedPending;
      this.endedPending = [];
      const host = this.manager?.config.issuer.host ?? this.identity.label;
      const again = vscode.l10n.t('Sign In Again');
      for (const group of [all.filter((e) => e.why === 'expired'), all.filter((e) => e.why === 'refused')]) {
        if (!group.length) continue;
        const accounts = [...new Set(group.map((e) => e.session.accountLabel))].join(', ');
        const text = endedMessage(group[0]!, host, this.identity.label, accounts);
        this.deps.log.warn(`Told the user: ${text}`);
        void vscode.window.showWarningMessage(text, again).then((choice) => {
          if (choice === again) void this.signIn(group[0]!.session.scopes).catch(() => undefined);
        });
      }
    }, 0);
  }

  private async announceSwitch(next: SessionManager | undefined): Promise<void> {
    try {
      const added = next ? await next.getSessionsWithoutRefresh() : [];
      if (added.length && next) {
        this.remember(next);
        this.fire({ added, removed: [], changed: [] });
      }
    } catch (err) {
      this.deps.log.warn(`Could not read sessions after a settings change: ${String(err)}`);
    }
  }
}

/** The words for a session that ended by itself, from why it ended (never from a message). */
function endedMessage(ended: EndedSession, host: string, provider: string, accounts: string): string {
  if (ended.why === 'expired') {
    return vscode.l10n.t('Your session with {0} ({1}, {2}) expired: the identity provider issued no refresh token to renew it. Sign in again to go on.', host, provider, accounts);
  }
  const answer = [ended.status !== undefined ? `HTTP ${ended.status}` : '', ended.oauthError ?? ''].filter(Boolean).join(', ');
  return answer
    ? vscode.l10n.t('{0} refused to renew your session ({1}, {2}; {3}): sign in again.', host, provider, accounts, answer)
    : vscode.l10n.t('{0} refused to renew your session ({1}, {2}): sign in again.', host, provider, accounts);
}

export function toVscodeSession(s: StoredSession): vscode.AuthenticationSession {
  return { id: s.id, accessToken: s.accessToken, account: { id: s.accountId, label: s.accountLabel }, scopes: s.scopes };
}
