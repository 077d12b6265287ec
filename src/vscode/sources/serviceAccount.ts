/**
 * A provider entry with `grant: "clientCredentials"`: one session per provider made from the
 * client credentials grant. The client secret is asked once (password box) and kept in
 * SecretStorage, never in settings; tokens are cached and renewed by the core, once for all
 * callers. Signing out forgets the secret.
 */
import * as vscode from 'vscode';
import { ClientCredentialsTokens } from '../../core/protocol/clientCredentials';
import type { ProviderConfig } from '../../core/config';
import { errorMessage, OidcError } from '../../core/errors';
import { clientSecretKey } from '../../core/storage/keys';
import { askClientSecret } from '../clientSecret';
import { reportError } from '../ui';
import { BaseSource, type SessionSource, type SourceContext } from './source';

export class ServiceAccountSource extends BaseSource implements SessionSource {
  readonly #tokens: ClientCredentialsTokens;
  /** Its tokens are the core's ClientCredentialsTokens', not a SessionManager's. */
  readonly manager = undefined;

  readonly #config: ProviderConfig;
  readonly #ctx: SourceContext;

  constructor(config: ProviderConfig, ctx: SourceContext) {
    super();
    this.#config = config;
    this.#ctx = ctx;
    this.#tokens = new ClientCredentialsTokens({
      config,
      issuers: ctx.deps.issuers,
      log: ctx.deps.log,
      secret: async () => ctx.deps.secrets.get(this.#secretKey),
    });
  }

  get sessionId(): string {
    return `${this.#ctx.identity.id}.service-account`;
  }

  get #secretKey(): string {
    return clientSecretKey(this.#config);
  }

  /** Settings are read afresh each time they apply: a service account is rebuilt. */
  reconfigure(): boolean {
    return false;
  }

  async serviceAccountStatus(): Promise<{ secretStored: boolean }> {
    return { secretStored: (await this.#ctx.deps.secrets.get(this.#secretKey)) !== undefined };
  }

  /** The session, when a secret is stored and the IdP gives a token; none otherwise (logged). */
  async getSessions(scopes: readonly string[] | undefined): Promise<vscode.AuthenticationSession[]> {
    if (!(await this.#ctx.deps.secrets.get(this.#secretKey))) return [];
    // No scopes (VS Code passes [] as often as undefined) means the provider's configured ones.
    const wanted = scopes?.length ? scopes : this.#config.scopes;
    try {
      const token = await this.#tokens.token(wanted);
      const { clientId } = this.#config;
      return [{ id: this.sessionId, accessToken: token.accessToken, account: { id: clientId, label: vscode.l10n.t('{0} (service account)', clientId) }, scopes: [...wanted] }];
    } catch (err) {
      this.#ctx.deps.log.warn(`${this.#ctx.identity.id}: could not get a service-account token: ${errorMessage(err)}`);
      return [];
    }
  }

  /** Asks for the client secret once (password box), keeps it in SecretStorage, gets a token. */
  async createSession(scopes: readonly string[]): Promise<vscode.AuthenticationSession> {
    const config = this.#config;
    const { secrets } = this.#ctx.deps;
    if (!(await secrets.get(this.#secretKey))) {
      await askClientSecret(secrets, config, vscode.l10n.t('Service account for {0}', this.#ctx.identity.label));
      this.#tokens.clear();
    }
    try {
      await this.#tokens.token(scopes.length ? scopes : config.scopes);
    } catch (err) {
      // A refused secret is not kept: the next sign-in asks again.
      if (err instanceof OidcError && err.oauthError === 'invalid_client') await secrets.delete(this.#secretKey);
      reportError(err, { showLog: this.#ctx.deps.showLog });
      throw err;
    }
    const [session] = await this.getSessions(scopes);
    if (!session) throw new OidcError('network', vscode.l10n.t('Could not get a token for the service account.'));
    this.emitter.fire({ added: [session], removed: [], changed: [] });
    return session;
  }

  /** Forgets the client secret and the cached tokens; the session, if any, ends. */
  async removeSession(sessionId: string): Promise<void> {
    if (sessionId !== this.sessionId) return;
    const [session] = await this.getSessions(undefined);
    await this.#ctx.deps.secrets.delete(this.#secretKey);
    this.#tokens.clear();
    this.#ctx.deps.log.info(`${this.#ctx.identity.id}: removed the service account's client secret.`);
    if (session) this.emitter.fire({ added: [], removed: [session], changed: [] });
  }
}
