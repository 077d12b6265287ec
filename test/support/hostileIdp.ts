/**
 * A small, scriptable, HOSTILE identity provider for attack tests: plain node:http on
 * 127.0.0.1 serving discovery, JWKS, PAR, authorization, token, revocation and device
 * endpoints. Each test scripts what it answers: ID tokens with any header and claims, signed
 * with its own RSA keys, unsigned (`alg: none`), with a payload altered after signing, or with
 * a key id its JWKS does not publish; and raw bodies for any endpoint.
 *
 * Hand-built JWTs are fine HERE because forging them is this fixture's whole job. The product
 * must never build or verify JWTs by hand (it uses oauth4webapi).
 *
 * There is no login page: `/auth` redirects straight to the given redirect_uri with `code`,
 * `state` and `iss`, so a "browser" only has to follow one redirect.
 *
 * It is over 300 lines because it is one server: every endpoint reads the same scripts and signs
 * with the same keys, and splitting the endpoints would spread that state over several files.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { trackSecrets } from './tokenLedger';

export const HOSTILE_CLIENT_ID = 'hostile-test-client';

/** A raw answer, sent exactly as given. */
export interface RawAnswer {
  status?: number;
  body: string | Buffer;
  /** Default `application/json`. */
  contentType?: string;
  headers?: Record<string, string>;
  /** Stream the body in chunks without a Content-Length header. */
  chunked?: boolean;
}

export type SignatureMode =
  /** Signed with the current signing key, whose kid the JWKS publishes (unless rotated unpublished). */
  | 'valid'
  /** `alg: none`, empty signature. */
  | 'none'
  /** Signed correctly, then the payload was changed (sub → "attacker"): the signature no longer matches. */
  | 'tampered'
  /** Signed with a key (and kid) the JWKS never publishes. */
  | 'unknown-kid';

export interface IdTokenScript {
  /** Merged over the defaults (iss, aud, sub, email, iat, exp, nonce); `undefined` removes a claim. */
  claims?: Record<string, unknown>;
  /** Merged over the default header ({ alg: RS256, typ: JWT, kid }). */
  header?: Record<string, unknown>;
  signature?: SignatureMode;
}

/** What the token endpoint answers to the next request. */
export type TokenAnswer =
  | { raw: RawAnswer; delayMs?: number }
  | {
      /** Merged over the default body; `undefined` removes a member. */
      body?: Record<string, unknown>;
      /** `false`: no id_token at all. */
      idToken?: IdTokenScript | false;
      /** Hold the answer this long. */
      delayMs?: number;
    };

export interface AuthorizationScript {
  /** The `iss` parameter: a string replaces the issuer, `null` leaves it out. */
  iss?: string | null;
  /** Extra or replacing parameters (e.g. error, error_description); `undefined` removes one. */
  params?: Record<string, string | undefined>;
}

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

interface PendingCode {
  nonce: string | undefined;
  redirectUri: string;
  codeChallenge: string | undefined;
}

export interface HostileIdp {
  readonly issuer: string;
  readonly port: number;
  readonly clientId: string;
  /** Overrides of the discovery document; `undefined` removes a member. Replace freely. */
  metadata: Record<string, unknown>;
  /** When set, discovery answers this instead of the document. */
  rawDiscovery: RawAnswer | undefined;
  /**
   * Scripts the next redirects from `/auth` (first in, first out); default: code, state, iss. Only
   * requests from the tests' browser (header `x-test-browser`) take one: the extension's own check
   * of the authorization request, made before the browser opens, gets the default.
   */
  readonly authorizationScripts: AuthorizationScript[];
  /** Scripts the next token answers (first in, first out); default: valid tokens and ID token. */
  readonly tokenAnswers: TokenAnswer[];
  /** Scripts the next revocation answers; default 200. */
  readonly revocationAnswers: RawAnswer[];
  /** Overrides of the device authorization answer (e.g. `verification_uri`); `undefined` removes a member. */
  deviceAnswer: Record<string, unknown>;
  /** Every request, in order. */
  readonly requests: { method: string; path: string; params: URLSearchParams }[];
  /** Every secret this IdP handed out (codes, tokens, ID tokens, device and user codes). */
  readonly secrets: string[];
  /** PKCE checks done at the token endpoint (true: the verifier matched the challenge). */
  readonly pkceResults: boolean[];
  /** How many requests went to `path`. */
  count(path: string): number;
  /** Drops every script and override above (what a test's clean-up calls); requests and secrets stay. */
  clearScripts(): void;
  /** A new signing key; `publish` adds it to the JWKS (the old keys stay published). */
  rotateKey(options: { publish: boolean }): string;
  /** Builds an ID token as the token endpoint would (for tests that call the core directly). */
  forgeIdToken(script?: IdTokenScript, nonce?: string): string;
  close(): Promise<void>;
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `hostile-${randomBytes(6).toString('hex')}`;
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, use: 'sig', alg: 'RS256' };
  return { kid, privateKey, jwk };
}

const b64u = (value: string | Buffer) => Buffer.from(value).toString('base64url');

function merge(base: Record<string, unknown>, overrides: Record<string, unknown> | undefined): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendRaw(res: http.ServerResponse, answer: RawAnswer): void {
  const body = Buffer.from(answer.body);
  const headers: Record<string, string> = {
    'content-type': answer.contentType ?? 'application/json',
    'cache-control': 'no-store',
    ...answer.headers,
  };
  if (!answer.chunked) {
    res.writeHead(answer.status ?? 200, { ...headers, 'content-length': String(body.length) });
    res.end(body);
    return;
  }
  res.writeHead(answer.status ?? 200, headers);
  let offset = 0;
  const step = 64 * 1024;
  const pump = () => {
    while (offset < body.length) {
      const ok = res.write(body.subarray(offset, offset + step));
      offset += step;
      if (!ok) return void res.once('drain', pump);
    }
    res.end();
  };
  // The client may hang up once it has read enough: that is the point of some tests.
  res.on('error', () => undefined);
  pump();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  sendRaw(res, { status, body: JSON.stringify(body) });
}

export async function startHostileIdp(options: { par?: boolean } = {}): Promise<HostileIdp> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = HOSTILE_CLIENT_ID;

  let signing = newKey();
  const published: SigningKey[] = [signing];
  const stranger = newKey(); // never published
  const codes = new Map<string, PendingCode>();
  const pushed = new Map<string, URLSearchParams>();
  const secrets: string[] = [];
  const requests: HostileIdp['requests'] = [];
  const secret = (prefix: string) => {
    const value = `${prefix}-${randomBytes(18).toString('base64url')}`;
    secrets.push(value);
    return value;
  };

  const forgeIdToken = (script: IdTokenScript = {}, nonce?: string): string => {
    const now = Math.floor(Date.now() / 1000);
    const mode = script.signature ?? 'valid';
    const key = mode === 'unknown-kid' ? stranger : signing;
    const claims = merge(
      {
        iss: issuer,
        aud: clientId,
        sub: 'victim',
        email: 'victim@example.test',
        iat: now,
        exp: now + 600,
        ...(nonce !== undefined ? { nonce } : {}),
      },
      script.claims,
    );
    const header = merge(mode === 'none' ? { alg: 'none', typ: 'JWT' } : { alg: 'RS256', typ: 'JWT', kid: key.kid }, script.header);
    const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    if (mode === 'none') return `${signingInput}.`;
    const signature = b64u(sign('sha256', Buffer.from(signingInput), key.privateKey));
    if (mode === 'tampered') {
      const altered = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify({ ...claims, sub: 'attacker' }))}`;
      return `${altered}.${signature}`;
    }
    return `${signingInput}.${signature}`;
  };

  const idp: HostileIdp = {
    issuer,
    port,
    clientId,
    metadata: {},
    rawDiscovery: undefined,
    authorizationScripts: [],
    tokenAnswers: [],
    revocationAnswers: [],
    deviceAnswer: {},
    requests,
    secrets,
    pkceResults: [],
    count: (path) => requests.filter((r) => r.path === path).length,
    clearScripts() {
      idp.metadata = {};
      idp.rawDiscovery = undefined;
      idp.deviceAnswer = {};
      for (const scripts of [idp.authorizationScripts, idp.tokenAnswers, idp.revocationAnswers]) scripts.length = 0;
    },
    rotateKey({ publish }) {
      signing = newKey();
      if (publish) published.push(signing);
      return signing.kid;
    },
    forgeIdToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const discovery = () =>
    merge(
      {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        revocation_endpoint: `${issuer}/revoke`,
        device_authorization_endpoint: `${issuer}/device`,
        ...(options.par ? { pushed_authorization_request_endpoint: `${issuer}/par` } : {}),
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        token_endpoint_auth_methods_supported: ['none'],
        authorization_response_iss_parameter_supported: true,
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      },
      idp.metadata,
    );

  const tokenResponse = async (res: http.ServerResponse, form: URLSearchParams): Promise<void> => {
    const grant = form.get('grant_type');
    let nonce: string | undefined;
    if (grant === 'authorization_code') {
      const pending = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (pending) {
        nonce = pending.nonce;
        if (pending.codeChallenge) {
          const computed = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
          idp.pkceResults.push(computed === pending.codeChallenge);
        }
      }
    }
    const answer = idp.tokenAnswers.shift() ?? {};
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if ('raw' in answer) return sendRaw(res, answer.raw);
    const body = merge(
      {
        access_token: secret('at'),
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: secret('rt'),
        scope: 'openid profile email offline_access',
      },
      answer.body,
    );
    if (answer.idToken !== false && body.id_token === undefined) {
      const idToken = forgeIdToken(answer.idToken ?? {}, grant === 'authorization_code' ? nonce : undefined);
      secrets.push(idToken);
      body.id_token = idToken;
    }
    sendJson(res, 200, body);
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
      requests.push({ method: req.method ?? 'GET', path: url.pathname, params: form });
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          return idp.rawDiscovery ? sendRaw(res, idp.rawDiscovery) : sendJson(res, 200, discovery());
        case '/jwks':
          return sendJson(res, 200, { keys: published.map((k) => k.jwk) });
        case '/par': {
          const requestUri = `urn:ietf:params:oauth:request_uri:${randomBytes(12).toString('base64url')}`;
          pushed.set(requestUri, form);
          return sendJson(res, 201, { request_uri: requestUri, expires_in: 60 });
        }
        case '/auth': {
          const params = url.searchParams.get('request_uri') ? pushed.get(url.searchParams.get('request_uri')!) : url.searchParams;
          const redirectUri = params?.get('redirect_uri');
          if (!params || !redirectUri) return sendRaw(res, { status: 400, body: 'bad request', contentType: 'text/plain' });
          const code = secret('code');
          codes.set(code, {
            nonce: params.get('nonce') ?? undefined,
            redirectUri,
            codeChallenge: params.get('code_challenge') ?? undefined,
          });
          const script = (req.headers['x-test-browser'] ? idp.authorizationScripts.shift() : undefined) ?? {};
          const out: Record<string, string | undefined> = { code, state: params.get('state') ?? undefined, iss: issuer };
          if (script.iss !== undefined) out.iss = script.iss ?? undefined;
          Object.assign(out, script.params);
          const target = new URL(redirectUri);
          for (const [k, v] of Object.entries(out)) if (v !== undefined) target.searchParams.set(k, v);
          res.writeHead(302, { location: target.href, 'cache-control': 'no-store' });
          return res.end();
        }
        case '/token':
          return tokenResponse(res, form);
        case '/revoke':
          return sendRaw(res, idp.revocationAnswers.shift() ?? { status: 200, body: '' });
        case '/device':
          return sendJson(
            res,
            200,
            merge(
              {
                device_code: secret('dc'),
                user_code: secret('UC'),
                verification_uri: `${issuer}/device-page`,
                expires_in: 600,
                interval: 5,
              },
              idp.deviceAnswer,
            ),
          );
        default:
          return sendRaw(res, { status: 404, body: 'not found', contentType: 'text/plain' });
      }
    })().catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });

  trackSecrets(() => secrets);
  return idp;
}
