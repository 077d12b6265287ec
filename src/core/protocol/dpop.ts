/**
 * DPoP (RFC 9449): tokens bound to a key pair only this provider's client holds, so a leaked
 * access or refresh token is useless without the private key. The proofs themselves are made by
 * oauth4webapi; this module keeps the key (one per issuer + client id, in SecretStorage), checks the
 * token type an answer names, retries a request once when the server asks for a DPoP nonce, and
 * makes proofs for other extensions' API requests. The handle reaches token requests through the
 * provider's protocol object (protocol/providerProtocol.ts).
 */
import * as oauth from 'oauth4webapi';
import { errorMessage, OidcError } from '../errors';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import type { SecretStore } from '../storage/secretStore';
import type { SharedSecrets } from '../storage/stateStore';

/** ES256 (P-256): the algorithm every DPoP server must be able to verify in practice. */
export const DPOP_ALG = 'ES256';
const KEY_FORMAT = 1;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * Token response options: a DPoP-bound token (`token_type` DPoP) only when proofs were sent, a
 * Bearer token only when they were not. An IdP that ignores the proofs would otherwise downgrade
 * the session to Bearer without anyone noticing.
 */
export function tokenTypeOptions(bound: boolean): { recognizedTokenTypes: oauth.RecognizedTokenTypes } {
  if (bound) {
    return {
      recognizedTokenTypes: {
        bearer: () => {
          throw new OidcError(
            'protocol',
            l10n.t(
              'The identity provider issued a Bearer token although DPoP was requested: it does not bind tokens to the key. Enable DPoP for the client at the identity provider, or turn "dpop" off for this provider.',
            ),
          );
        },
      },
    };
  }
  return {
    recognizedTokenTypes: {
      dpop: () => {
        throw new OidcError('protocol', l10n.t('The identity provider issued a DPoP-bound token although this provider does not use DPoP.'));
      },
    },
  };
}

/**
 * Runs a request (and the processing of its answer) once more when the server asks for a DPoP
 * nonce (`use_dpop_nonce`, RFC 9449 §8): the handle has cached the nonce from the error answer.
 * Once only, so a server that keeps asking cannot hold a sign-in in a loop. Without DPoP
 * (`bound` false) the first failure stands.
 */
export async function withDPoPNonceRetry<T>(bound: boolean, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    if (!bound || !oauth.isDPoPNonceError(err)) throw err;
    return attempt();
  }
}

/** Refuses an IdP that says it cannot verify ES256 proofs, before anything is sent. */
export function checkDPoPSupported(as: oauth.AuthorizationServer): void {
  const algs = as.dpop_signing_alg_values_supported;
  if (Array.isArray(algs) && !algs.includes(DPOP_ALG)) {
    throw new OidcError(
      'config',
      l10n.t(
        'The identity provider accepts DPoP proofs signed with {0}, not {1}; turn "dpop" off for this provider.',
        algs.join(', ') || l10n.t('no algorithm'),
        DPOP_ALG,
      ),
    );
  }
}

export interface ProofRequest {
  /** HTTP method of the request the proof is for. */
  method: string;
  /** Its URL; query and fragment are not part of the proof (RFC 9449 §4.2 `htu`). */
  url: URL;
  /** The access token the request carries (`ath`). */
  accessToken: string;
  /** A nonce the resource server asked for (its `DPoP-Nonce` header). */
  nonce?: string;
}

/**
 * One provider's DPoP key pair, loaded from (or created in) the secret store on first use.
 *
 * SecretStorage holds strings, so the private key has to be stored as a JWK; what can be kept
 * from every other code path is the key in memory. It is imported as a non-extractable CryptoKey
 * (WebCrypto then refuses to export it), so no log line, error or bug in this process can print
 * or send it; only the keychain entry holds its bytes. The public key stays extractable because
 * the proofs carry it (oauth4webapi requires that).
 */
export class DPoPKeys {
  #pair: Promise<CryptoKeyPair> | undefined;
  #handle: oauth.DPoPHandle | undefined;

  readonly #secrets: SecretStore;
  readonly #log: Logger;
  /**
   * Where every window of the machine agrees on one key (the shared state folder): without it,
   * browser-hosted windows, which hold private SecretStorage snapshots, could each make their own.
   */
  readonly #shared: SharedSecrets | undefined;

  constructor(
    secrets: SecretStore,
    readonly key: string,
    log: Logger,
    shared?: SharedSecrets,
  ) {
    this.#secrets = secrets;
    this.#log = log;
    this.#shared = shared;
  }

  /** The handle for token requests; it remembers the nonces servers hand out. */
  async requestHandle(): Promise<oauth.DPoPHandle> {
    const pair = await this.#keyPair();
    // The client argument only supplies a clock skew, which this extension does not set.
    this.#handle ??= oauth.DPoP({}, pair);
    return this.#handle;
  }

  /**
   * The `DPoP` header value for a request to a resource server. oauth4webapi makes proofs only
   * while sending a request, so one is "sent" to a fetch that keeps the header and sends nothing.
   */
  async proof(request: ProofRequest): Promise<string> {
    const pair = await this.#keyPair();
    const { nonce } = request;
    const handle = oauth.DPoP(
      {},
      pair,
      nonce === undefined
        ? {}
        : {
            [oauth.modifyAssertion]: (_header, payload) => {
              payload.nonce = nonce;
            },
          },
    );
    let proof: string | null = null;
    await oauth.protectedResourceRequest(request.accessToken, request.method.toUpperCase(), request.url, new Headers(), null, {
      DPoP: handle,
      // Nothing goes over the wire, so an http resource URL is no risk here (https needs no exception).
      [oauth.allowInsecureRequests]: new URL(request.url).protocol === 'http:',
      [oauth.customFetch]: async (_url, init) => {
        proof = new Headers(init.headers).get('dpop');
        return new Response(null, { status: 204 });
      },
    });
    if (proof === null) throw new Error('oauth4webapi made no DPoP proof');
    return proof;
  }

  #keyPair(): Promise<CryptoKeyPair> {
    this.#pair ??= this.#loadOrCreate().catch((err: unknown) => {
      this.#pair = undefined;
      throw err;
    });
    return this.#pair;
  }

  async #loadOrCreate(): Promise<CryptoKeyPair> {
    if (this.#shared) {
      let stored: string;
      try {
        stored = await this.#shared.sharedSecret(this.key, () => this.#generate(), async (raw) => (await importStoredKey(raw)) !== undefined);
      } catch (err) {
        throw storageError('save', err);
      }
      const pair = await importStoredKey(stored);
      if (!pair) throw new Error('the shared DPoP key did not import');
      return pair;
    }
    let raw: string | undefined;
    try {
      raw = await this.#secrets.get(this.key);
    } catch (err) {
      throw storageError('read', err);
    }
    if (raw !== undefined) {
      const pair = await importStoredKey(raw);
      if (pair) return pair;
    }
    const stored = await this.#generate();
    try {
      await this.#secrets.store(this.key, stored);
    } catch (err) {
      throw storageError('save', err);
    }
    const pair = await importStoredKey(stored);
    if (!pair) throw new Error('a generated DPoP key did not import');
    return pair;
  }

  /** A new key pair in its stored form (the caller stores it). */
  async #generate(): Promise<string> {
    const existing = await this.#secrets.get(this.key).catch(() => undefined);
    if (existing !== undefined && (await importStoredKey(existing)) === undefined) {
      // The bytes are useless as a key, and tokens bound to it can never be used again: a new
      // key lets the next sign-in work (sessions bound to the old key are signed out on refresh).
      this.#log.warn('The stored DPoP key is unreadable; making a new one. Sessions bound to the old key must sign in again.');
    }
    const generated = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
    const jwk = await crypto.subtle.exportKey('jwk', generated.privateKey);
    this.#log.info('Made a new DPoP key for this identity provider and stored it in the OS keychain.');
    return JSON.stringify({ version: KEY_FORMAT, alg: DPOP_ALG, jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d } });
  }
}

/** The stored key as a non-extractable private key and its public key; undefined when unusable. */
async function importStoredKey(raw: string): Promise<CryptoKeyPair | undefined> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { version, alg, jwk } = data as { version?: unknown; alg?: unknown; jwk?: Record<string, unknown> };
  if (version !== KEY_FORMAT || alg !== DPOP_ALG || typeof jwk !== 'object' || jwk === null) return undefined;
  const { kty, crv, x, y, d } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string' || typeof d !== 'string') return undefined;
  try {
    const privateKey = await crypto.subtle.importKey('jwk', { kty, crv, x, y, d }, EC_P256, false, ['sign']);
    const publicKey = await crypto.subtle.importKey('jwk', { kty, crv, x, y }, EC_P256, true, ['verify']);
    return { privateKey, publicKey };
  } catch {
    return undefined;
  }
}

function storageError(what: 'read' | 'save', err: unknown): OidcError {
  const detail = errorMessage(err);
  const message =
    what === 'read'
      ? l10n.t('VS Code could not read the DPoP key in the OS keychain ({0}).', detail)
      : l10n.t('VS Code could not save the DPoP key in the OS keychain ({0}).', detail);
  return new OidcError('storage', message);
}
