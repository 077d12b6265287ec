/**
 * Settings without a client ID: a public client is registered at the IdP (RFC 7591) at the first
 * sign-in, and the registration kept in SecretStorage; a registration made earlier (by any
 * window) is found at start. Once a client is known, its sessions are an interactive source's,
 * which this source hands everything to.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../../core/config';
import { errorMessage, OidcError } from '../../core/errors';
import { parseRegistration, registerClient } from '../../core/protocol/registration';
import type { SessionManager } from '../../core/sessions/sessionManager';
import type { StoredSession } from '../../core/sessions/sessions';
import { registrationKey } from '../../core/storage/keys';
import { reportError } from '../ui';
import { BaseSource, type SessionSource, type SignInRequest, type SourceContext } from './source';

export class RegistrationSource extends BaseSource implements SessionSource {
  /** The registered client's sessions, once there is a client. */
  #registered: SessionSource | undefined;
  readonly #restoring: Promise<void>;
  #disposed = false;

  readonly #config: ProviderConfig;
  readonly #ctx: SourceContext;
  readonly #interactive: (config: ProviderConfig) => SessionSource;

  /** `interactive` makes the source of the registered client (sources/factory.ts). */
  constructor(config: ProviderConfig, ctx: SourceContext, interactive: (config: ProviderConfig) => SessionSource) {
    super();
    this.#config = config;
    this.#ctx = ctx;
    this.#interactive = interactive;
    ctx.deps.log.info(`${ctx.identity.id}: no client ID set; a client will be registered at ${config.issuer.href} when needed.`);
    this.#restoring = this.#restore().catch((err: unknown) => ctx.deps.log.warn(`Could not read the client registration: ${String(err)}`));
  }

  get manager(): SessionManager | undefined {
    return this.#registered?.manager;
  }

  /** Only a registered client's sessions stay: the same issuer, still no client ID (or that client's). */
  reconfigure(config: ProviderConfig): boolean {
    const client = this.manager?.config.clientId;
    if (!this.#registered || client === undefined || config.issuer.href !== this.#config.issuer.href) return false;
    return this.#registered.reconfigure(config.clientId === '' ? { ...config, clientId: client } : config);
  }

  async getSessions(scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]> {
    await this.#restoring;
    return this.#registered ? this.#registered.getSessions(scopes, options) : [];
  }

  async createSession(scopes: readonly string[], request: SignInRequest): Promise<vscode.AuthenticationSession> {
    await this.#restoring;
    if (!this.#registered) {
      try {
        await this.#register();
      } catch (err) {
        this.#ctx.deps.log.error(`Client registration failed: ${errorMessage(err)}`);
        reportError(err, { showLog: this.#ctx.deps.showLog });
        throw err;
      }
    }
    if (!this.#registered) {
      // The settings moved on while the client was being registered.
      const err = new OidcError('config', 'OpenID Connect is not configured.');
      reportError(err, { showLog: this.#ctx.deps.showLog });
      throw err;
    }
    return this.#registered.createSession(scopes, request);
  }

  async removeSession(sessionId: string): Promise<void> {
    await this.#registered?.removeSession(sessionId);
  }

  override async listSessions(): Promise<StoredSession[]> {
    return this.#registered ? this.#registered.listSessions() : [];
  }

  override dispose(): void {
    this.#disposed = true;
    this.#registered?.dispose();
    super.dispose();
  }

  /** A client registered earlier for this issuer, if any. */
  async #restore(): Promise<void> {
    const registration = parseRegistration(await this.#ctx.deps.secrets.get(registrationKey(this.#config.issuer.href)), this.#config.issuer.href);
    if (registration) this.#adopt(registration.clientId);
  }

  /** Registers a public client at the IdP and keeps the registration in SecretStorage. */
  async #register(): Promise<void> {
    const config = this.#config;
    const ctx = this.#ctx;
    const as = await ctx.deps.issuers.get(config.issuer);
    const registration = await registerClient(as, { issuer: config.issuer });
    await ctx.deps.secrets.store(registrationKey(config.issuer.href), JSON.stringify(registration));
    ctx.deps.log.info(`${ctx.identity.id}: registered the client ${registration.clientId} at ${config.issuer.href}.`);
    this.#adopt(registration.clientId);
  }

  #adopt(clientId: string): void {
    if (this.#disposed || this.#registered) return;
    this.#registered = this.#interactive({ ...this.#config, clientId });
    this.#registered.onDidChange((change) => this.emitter.fire(change));
    this.#ctx.sessionsMayHaveChanged();
  }
}
