/**
 * A provider entry with `grant: "clientCredentials"`: one session per provider made from the
 * client credentials grant. The client secret is asked once (password box) and kept in
 * SecretStorage, never in settings; tokens are cached and renewed by the core, once for all
 * callers.
 */
import * as vscode from 'vscode';
import { ClientCredentialsTokens } from '../core/protocol/clientCredentials';
import type { ProviderConfig } from '../core/config';
import { OidcError } from '../core/errors';
import type { IssuerCache } from '../core/protocol/discovery';
import type { Logger } from '../core/logger';
import { askClientSecret } from './clientSecret';
import { clientSecretKey } from '../core/storage/keys';
import { reportError } from './ui';

export interface ServiceAccountDeps {
  secrets: vscode.SecretStorage;
  issuers: IssuerCache;
  log: Logger;
  showLog: () => void;
}

export class ServiceAccount {
  private readonly tokens: ClientCredentialsTokens;

  constructor(
    private readonly config: ProviderConfig,
    private readonly identity: { id: string; label: string },
    private readonly deps: ServiceAccountDeps,
  ) {
    this.tokens = new ClientCredentialsTokens({
      config,
      issuers: deps.issuers,
      log: deps.log,
      secret: async () => deps.secrets.get(this.secretKey),
    });
  }

  get sessionId(): string {
    return `${this.identity.id}.service-account`;
  }

  private get secretKey(): string {
    return clientSecretKey(this.config);
  }

  /** For Show Status. */
  async status(): Promise<{ secretStored: boolean }> {
    return { secretStored: (await this.deps.secrets.get(this.secretKey)) !== undefined };
  }

  /** The session, when a secret is stored and the IdP gives a token; none otherwise (logged). */
  async sessions(scopes: readonly string[] | undefined): Promise<vscode.AuthenticationSession[]> {
    if (!(await this.deps.secrets.get(this.secretKey))) return [];
    // No scopes (VS Code passes [] as often as undefined) means the provider's configured ones.
    const wanted = scopes?.length ? scopes : this.config.scopes;
    try {
      const token = await this.tokens.token(wanted);
      const { clientId } = this.config;
      return [{ id: this.sessionId, accessToken: token.accessToken, account: { id: clientId, label: vscode.l10n.t('{0} (service account)', clientId) }, scopes: [...wanted] }];
    } catch (err) {
      this.deps.log.warn(`${this.identity.id}: could not get a service-account token: ${err instanceof Error ? err.message : String(err)}`);
      return [];
    }
  }

  /** Asks for the client secret once (password box), keeps it in SecretStorage, gets a token. */
  async signIn(scopes: readonly string[]): Promise<vscode.AuthenticationSession> {
    const { config } = this;
    if (!(await this.deps.secrets.get(this.secretKey))) {
      await askClientSecret(this.deps.secrets, config, vscode.l10n.t('Service account for {0}', this.identity.label));
      this.tokens.clear();
    }
    try {
      await this.tokens.token(scopes.length ? scopes : config.scopes);
    } catch (err) {
      // A refused secret is not kept: the next sign-in asks again.
      if (err instanceof OidcError && err.oauthError === 'invalid_client') await this.deps.secrets.delete(this.secretKey);
      reportError(err, { showLog: this.deps.showLog });
      throw err;
    }
    const [session] = await this.sessions(scopes);
    if (!session) throw new OidcError('network', vscode.l10n.t('Could not get a token for the service account.'));
    return session;
  }

  /** Forgets the client secret and the cached tokens; returns the session that ends, if any. */
  async remove(): Promise<vscode.AuthenticationSession | undefined> {
    const [session] = await this.sessions(undefined);
    await this.deps.secrets.delete(this.secretKey);
    this.tokens.clear();
    this.deps.log.info(`${this.identity.id}: removed the service account's client secret.`);
    return session;
  }
}
