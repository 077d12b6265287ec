/**
 * A VS Code AuthenticationProvider (`oidc`, or `oidc.<id>` for an `oidcAuth.providers` entry):
 * adapts a session source (src/vscode/sources/) to VS Code's sessions, change events and
 * settings. The settings choose the source when they apply (sources/factory.ts); a token the
 * environment injects (CI) is served in front of it.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../core/config';
import { OidcError } from '../core/errors';
import type { SignInFlow } from '../core/flows/flow';
import { authorizationServerMismatch, sameAuthorizationServer } from '../core/protocol/authorizationServerMatch';
import type { RemoveResult, SessionManager } from '../core/sessions/sessionManager';
import type { StoredSession } from '../core/sessions/sessions';
import { askClientSecret } from './clientSecret';
import { requestedAuthorizationServer } from './mcpAuthorization';
import { EndedNotices } from './sources/endedNotices';
import { createSource } from './sources/factory';
import { InjectedToken } from './sources/injected';
import { signOutOf } from './sources/interactive';
import { toVscodeSession, type ProviderDeps, type ProviderIdentity, type SessionSource, type SourceChange, type SourceContext } from './sources/source';
import { WalkthroughContext } from './sources/walkthroughContext';
import { reportError } from './ui';

export type { ProviderDeps, ProviderIdentity } from './sources/source';
export { toVscodeSession } from './sources/source';

export const PROVIDER_ID = 'oidc';
export const PROVIDER_LABEL = 'OpenID Connect';

export class OidcAuthenticationProvider implements vscode.AuthenticationProvider, vscode.Disposable {
  readonly #emitter = new vscode.EventEmitter<vscode.AuthenticationProviderAuthenticationSessionsChangeEvent>();
  readonly onDidChangeSessions = this.#emitter.event;
  readonly #context: SourceContext;
  readonly #walkthrough: WalkthroughContext;
  readonly #ended: EndedNotices;
  readonly #injected: InjectedToken | undefined;
  #source: SessionSource;
  /** Whether `source` was made for usable settings (it is kept while they are not). */
  #configured = false;
  #sourceEvents: vscode.Disposable | undefined;
  #configError: OidcError | undefined;

  constructor(
    readonly deps: ProviderDeps,
    readonly identity: ProviderIdentity,
  ) {
    this.#walkthrough = new WalkthroughContext(identity.primary);
    this.#context = {
      identity,
      deps,
      signInAgain: (scopes, flow) => this.signIn(scopes, flow),
      sessionShared: () => this.#walkthrough.sessionShared(),
      sessionsMayHaveChanged: () => void this.#updateSignedInContext().catch(() => undefined),
    };
    this.#ended = new EndedNotices(identity.label, () => this.#source.manager?.config.issuer.host, (scopes) => this.signIn(scopes), deps.log);
    this.#injected = InjectedToken.fromEnvironment(identity, deps.log);
    this.#injected?.onDidChange((change) => this.#fire(change));
    this.#source = createSource(undefined, this.#context);
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
      this.#configError = undefined;
    } catch (err) {
      this.#configError = err instanceof OidcError ? err : new OidcError('config', String(err));
    }
    if (!config && this.#configured) {
      // An invalid value (often one being typed): "not configured" for new sign-ins, nothing else.
      this.deps.log.info(`${this.identity.id}: the settings are not usable for now (${this.#configError?.message ?? ''}); sessions are kept.`);
    } else if (!config || !this.#configured || !this.#source.reconfigure(config)) {
      this.#switchSource(config);
    }
    this.#walkthrough.set('oidcAuth.configured', this.isConfigured);
  }

  /** Replaces the source with one for `config` (the Unconfigured one without). */
  #switchSource(config: ProviderConfig | undefined): void {
    const old = this.#source;
    this.#sourceEvents?.dispose();
    old.dispose();
    // Another issuer or client: the old pair's sessions stay stored (refresh tokens intact) but
    // are no longer this provider's, so they are never offered to its callers.
    void old
      .listSessions()
      .then((sessions) => {
        if (sessions.length) this.#fire({ added: [], removed: sessions.map(toVscodeSession), changed: [] });
      })
      .catch((err: unknown) => this.deps.log.warn(`Could not read the sessions of the previous identity provider: ${String(err)}`));
    if (!config) this.deps.log.info(`${this.identity.id}: not configured: ${this.#configError?.message ?? ''}`);
    this.#source = createSource(config, this.#context);
    this.#configured = config !== undefined;
    this.#sourceEvents = this.#source.onDidChange((change) => this.#fire(change));
    void this.#updateSignedInContext().catch(() => undefined);
  }

  async getSessions(scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]> {
    const declined = this.#declinedAuthorizationServer(options);
    if (declined) {
      this.deps.log.info(declined);
      return [];
    }
    return (this.#injected ?? this.#source).getSessions(scopes, options);
  }

  async createSession(scopes: readonly string[], options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession> {
    const declined = this.#declinedAuthorizationServer(options);
    if (declined) {
      this.deps.log.warn(declined);
      throw new OidcError('config', declined);
    }
    // VS Code names the account when it asks again for a known one: the IdP gets it as a hint.
    return this.signIn(scopes, undefined, options?.account);
  }

  /** Signs in; `flowOverride` replaces the configured flow for this one attempt. */
  async signIn(scopes: readonly string[], flowOverride?: SignInFlow, account?: vscode.AuthenticationSessionAccountInformation): Promise<vscode.AuthenticationSession> {
    if (this.#injected) return this.#injected.createSession();
    if (this.#configError) {
      // Settings not usable now (sessions of the last usable ones are kept, but no new sign-in).
      reportError(this.#configError, { showLog: this.deps.showLog });
      throw this.#configError;
    }
    return this.#source.createSession(scopes, { account, flow: flowOverride });
  }

  async removeSession(sessionId: string): Promise<void> {
    // An injected token is not ours to revoke: it is hidden for the life of this window.
    if (this.#injected && sessionId === this.#injected.id) return this.#injected.removeSession(sessionId);
    return this.#source.removeSession(sessionId);
  }

  /** Signs out of stored sessions (Sign Out command), revoking at the IdP; warns when it could not. */
  async remove(ids: string[]): Promise<RemoveResult> {
    const manager = this.#source.manager;
    return manager ? signOutOf(manager, ids) : { removed: [] };
  }

  /** Sessions as stored, without refreshing anything (for sign-out and status). */
  async listSessions(): Promise<StoredSession[]> {
    return this.#source.listSessions();
  }

  /**
   * Asks for the client secret (password box) and keeps it in SecretStorage. Resolves with the
   * provider's config, or undefined when it has no sign-in client configured.
   */
  async enterClientSecret(): Promise<ProviderConfig | undefined> {
    const config = this.#source.manager?.config;
    if (!config) return undefined;
    await askClientSecret(this.deps.secrets, config, vscode.l10n.t('Client secret for {0}', this.identity.label));
    this.deps.log.info(`${this.identity.id}: stored a client secret for ${config.clientId}.`);
    return config;
  }

  /** The current manager, for the API extensions get from `activate()` and the terminal. */
  get sessions(): SessionManager | undefined {
    return this.#source.manager;
  }

  /** The storage key of the (issuer, client ID) pair in use, if any. */
  get storageKeyInUse(): string | undefined {
    return this.#source.manager?.key;
  }

  /** The injected session, when the environment provides one and it is not hidden. */
  get injectedSession(): vscode.AuthenticationSession | undefined {
    return this.#injected?.visible;
  }

  /** For Show Status: the service account's state, or undefined for a sign-in provider. */
  async serviceAccountStatus(): Promise<{ secretStored: boolean } | undefined> {
    return this.#source.serviceAccountStatus?.();
  }

  get isConfigured(): boolean {
    return !this.#configError && this.#configured;
  }

  /** The configured issuer, the authorization server this provider answers for. */
  get issuer(): string | undefined {
    try {
      return this.identity.readConfig().issuer.href;
    } catch {
      return undefined;
    }
  }

  dispose(): void {
    this.#sourceEvents?.dispose();
    this.#source.dispose();
    this.#injected?.dispose();
    this.#emitter.dispose();
  }

  /**
   * Why a request VS Code makes on behalf of an MCP server (`authorizationServer` set) is not
   * this provider's to answer: its tokens must never go to another authorization server.
   */
  #declinedAuthorizationServer(options: vscode.AuthenticationProviderSessionOptions | undefined): string | undefined {
    const requested = requestedAuthorizationServer(options);
    if (requested === undefined) return undefined;
    const issuer = this.issuer;
    return issuer && sameAuthorizationServer(issuer, requested) ? undefined : authorizationServerMismatch(this.identity.id, issuer, requested);
  }

  async #updateSignedInContext(): Promise<void> {
    this.#walkthrough.set('oidcAuth.signedIn', (await this.listSessions()).length > 0);
  }

  #fire(change: SourceChange): void {
    void this.#updateSignedInContext();
    this.#emitter.fire({ added: change.added, removed: change.removed, changed: change.changed });
    if (change.ended?.length) this.#ended.announce(change.ended);
  }
}
