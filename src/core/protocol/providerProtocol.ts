/**
 * One provider's protocol, as every request to its IdP needs it: the authorization server (its
 * discovered metadata, and discovery again when it signs with a key it had not published), the
 * oauth4webapi client, how that client authenticates (a public client, `client_secret_basic` or
 * `client_secret_post`), the options each request goes out with (bounded fetch, a timeout, http
 * only for an http issuer on loopback) and the DPoP handle when tokens are bound to a key.
 *
 * A `ProviderProtocol` is fixed for one operation (a sign-in, a refresh, a revocation, a
 * client-credentials request): the flows, the refresher, revocation and the client credentials
 * grant get it as an argument and take every protocol fact from it. A `ProviderProtocolSource`
 * is kept per provider (issuer + client id) and makes one for each operation: from the cached
 * discovery, the client secret as it is stored now and the provider's DPoP key.
 */
import * as oauth from 'oauth4webapi';
import { makeClient } from './authorizationCode';
import { clientAuthentication, PUBLIC_CLIENT, type ClientAuthentication } from './clientAuth';
import { checkDPoPSupported, tokenTypeOptions, withDPoPNonceRetry, type DPoPKeys } from './dpop';
import type { OidcError } from '../errors';
import { requestOptions, type RequestContext } from '../transport/http';
import type { IdTokenContext } from './idToken';
import type { IssuerCache } from './discovery';
import type { Logger } from '../logger';

/** What one operation adds to a request: the user's cancel, and how long a request may take. */
export interface OperationOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ProviderProtocolParts {
  issuer: URL;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  /** Default: a public client (`none`). */
  clientAuth?: ClientAuthentication;
  /** Set when the tokens of this operation are bound to the provider's DPoP key. */
  dpop?: oauth.DPoPHandle;
  /** Sent with every token request (`audience`, RFC 8707 `resource`). */
  tokenParameters?: Record<string, string>;
  /** Discovery again, for signing keys the IdP rotated in; without it a new key is an error. */
  rediscover?: (signal?: AbortSignal) => Promise<oauth.AuthorizationServer>;
}

export class ProviderProtocol {
  readonly issuer: URL;
  readonly as: oauth.AuthorizationServer;
  readonly client: oauth.Client;
  readonly clientAuth: ClientAuthentication;
  readonly dpop: oauth.DPoPHandle | undefined;
  readonly tokenParameters: Readonly<Record<string, string>>;
  readonly #discoverAgain: ProviderProtocolParts['rediscover'];

  constructor(parts: ProviderProtocolParts) {
    this.issuer = parts.issuer;
    this.as = parts.as;
    this.client = parts.client;
    this.clientAuth = parts.clientAuth ?? PUBLIC_CLIENT;
    this.dpop = parts.dpop;
    this.tokenParameters = parts.tokenParameters ?? {};
    this.#discoverAgain = parts.rediscover;
  }

  /** True when this operation's tokens are DPoP-bound (proofs are sent, `token_type` DPoP expected). */
  get usesDPoP(): boolean {
    return this.dpop !== undefined;
  }

  /** The issuer with the operation's signal and timeout, for error messages and request options. */
  context(op: OperationOptions = {}): RequestContext {
    return { issuer: this.issuer, ...op };
  }

  /** As context(), with discovery again for an ID token signed with a key not yet published. */
  idTokenContext(op: OperationOptions = {}): IdTokenContext {
    const discoverAgain = this.#discoverAgain;
    return discoverAgain ? { ...this.context(op), rediscover: () => discoverAgain(op.signal) } : this.context(op);
  }

  /** Options for a request that carries no token (discovery, PAR, device authorization, revocation). */
  requestOptions(op: OperationOptions = {}): ReturnType<typeof requestOptions> {
    return requestOptions(this.context(op));
  }

  /** Options for a request that may carry a DPoP proof (UserInfo). */
  proofRequestOptions(op: OperationOptions = {}): ReturnType<typeof requestOptions> & { DPoP?: oauth.DPoPHandle } {
    return { ...this.requestOptions(op), ...(this.dpop ? { DPoP: this.dpop } : {}) };
  }

  /** Options for a token request: a DPoP proof when bound, and the provider's token parameters. */
  tokenRequestOptions(op: OperationOptions = {}): ReturnType<ProviderProtocol['proofRequestOptions']> & { additionalParameters: Record<string, string> } {
    return { ...this.proofRequestOptions(op), additionalParameters: { ...this.tokenParameters } };
  }

  /** The token types a token answer may name: DPoP when bound, Bearer otherwise (never a silent downgrade). */
  tokenTypes(): { recognizedTokenTypes: oauth.RecognizedTokenTypes } {
    return tokenTypeOptions(this.usesDPoP);
  }

  /** Runs `attempt` once more when the server asks for a DPoP nonce (bound tokens only). */
  withNonceRetry<T>(attempt: () => Promise<T>): Promise<T> {
    return withDPoPNonceRetry(this.usesDPoP, attempt);
  }
}

/** Where a provider's client secret comes from, for a client that has one. */
export interface ClientSecretSource {
  /** The stored secret, or undefined when none is stored. */
  get(): Promise<string | undefined>;
  /** The error for a secret that should be stored and is not. */
  missing(): OidcError;
}

export interface ProviderProtocolSourceOptions {
  issuer: URL;
  clientId: string;
  issuers: IssuerCache;
  log: Logger;
  /** Set for a client with a secret; without it the client is public. */
  clientSecret?: ClientSecretSource;
  /** The provider's DPoP key, for operations whose tokens are bound to it. */
  dpopKeys?: DPoPKeys;
  tokenParameters?: Record<string, string>;
}

export interface OpenOptions extends OperationOptions {
  /** Bind this operation's tokens to the DPoP key (the provider's setting, or an existing session's binding). */
  dpop?: boolean;
  /** Metadata the caller already has for this operation (discovery is not asked again). */
  as?: oauth.AuthorizationServer;
}

/** One provider's source of ProviderProtocol objects, kept as long as its settings stay. */
export class ProviderProtocolSource {
  readonly #opts: ProviderProtocolSourceOptions;

  constructor(opts: ProviderProtocolSourceOptions) {
    this.#opts = opts;
  }

  get issuer(): URL {
    return this.#opts.issuer;
  }

  /** The discovered metadata (cached per issuer; concurrent callers share one request). */
  authorizationServer(op: OperationOptions = {}): Promise<oauth.AuthorizationServer> {
    return this.#opts.issuers.get(this.#opts.issuer, op);
  }

  /** Discovery again: the IdP signed with a key its cached JWKS lacks. */
  rediscover(signal?: AbortSignal): Promise<oauth.AuthorizationServer> {
    this.#opts.log.info('The identity provider signed with a key it had not published before: fetching its keys again.');
    this.#opts.issuers.invalidate(this.#opts.issuer);
    return this.#opts.issuers.get(this.#opts.issuer, signal ? { signal } : {});
  }

  /**
   * The client's authentication at `as`: its secret, sent as the metadata's
   * `token_endpoint_auth_methods_supported` says, when the client has one; else a public client.
   */
  async clientAuthentication(as: oauth.AuthorizationServer): Promise<ClientAuthentication> {
    const source = this.#opts.clientSecret;
    if (!source) return PUBLIC_CLIENT;
    const secret = await source.get();
    if (!secret) throw source.missing();
    return clientAuthentication(as, secret);
  }

  /**
   * The protocol for one operation: the metadata (discovered, or `op.as`), the client with its
   * ID-token algorithm pinned, the DPoP handle when `op.dpop` (after checking the IdP verifies
   * ES256 proofs), then the client authentication.
   */
  async open(op: OpenOptions = {}): Promise<ProviderProtocol> {
    const { issuer, clientId, dpopKeys, tokenParameters } = this.#opts;
    const as = op.as ?? (await this.authorizationServer({ ...(op.signal ? { signal: op.signal } : {}), ...(op.timeoutMs !== undefined ? { timeoutMs: op.timeoutMs } : {}) }));
    const client = makeClient(as, clientId);
    let dpop: oauth.DPoPHandle | undefined;
    if (op.dpop) {
      checkDPoPSupported(as);
      if (!dpopKeys) throw new Error('ProviderProtocolSource: DPoP asked for without a DPoP key');
      dpop = await dpopKeys.requestHandle();
    }
    const clientAuth = await this.clientAuthentication(as);
    return new ProviderProtocol({
      issuer,
      as,
      client,
      clientAuth,
      ...(dpop ? { dpop } : {}),
      ...(tokenParameters ? { tokenParameters } : {}),
      rediscover: (signal) => this.rediscover(signal),
    });
  }
}
