/**
 * The per-provider protocol object's own logic (src/core/protocol/providerProtocol.ts), against
 * the real test IdP: which client authentication it picks from the discovery document (the IdP
 * refuses a wrong one), a missing secret, rediscovery, reuse of metadata a caller already has,
 * and DPoP binding. The flows, refresher and revocation that use it are tested in their own
 * suites.
 */
import * as assert from 'node:assert/strict';
import type * as http from 'node:http';
import * as oauth from 'oauth4webapi';
import { DPoPKeys } from '../../src/core/protocol/dpop';
import { ConfigError, OidcError } from '../../src/core/errors';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { ProviderProtocol, ProviderProtocolSource, type ProviderProtocolSourceOptions } from '../../src/core/protocol/providerProtocol';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { sharedServer } from '../support/coreHarness';
import { SERVICE_CLIENT, startTestIdp, TEST_CLIENT_ID, type TestIdp } from '../support/idp';
import { recordingLogger } from '../support/tokenLedger';

const POST_CLIENT = { client_id: 'post-only-service', client_secret: 'post-only-secret-for-tests' };

/** Serves the IdP's discovery document with `token_endpoint_auth_methods_supported` set to `methods`. */
function authMethods(methods: string[]) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    if (req.url !== '/.well-known/openid-configuration' || req.headers['x-unpatched']) return false;
    const own = await fetch(`http://${req.headers.host}/.well-known/openid-configuration`, { headers: { 'x-unpatched': '1' } });
    const doc = (await own.json()) as Record<string, unknown>;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...doc, token_endpoint_auth_methods_supported: methods }));
    return true;
  };
}

function source(idp: TestIdp, more: Partial<ProviderProtocolSourceOptions> = {}): ProviderProtocolSource {
  return new ProviderProtocolSource({ issuer: new URL(idp.issuer), clientId: TEST_CLIENT_ID, issuers: new IssuerCache(silentLogger), log: silentLogger, ...more });
}

/** A client credentials grant sent the way `protocol` says; the IdP checks the client authentication. */
async function clientCredentials(protocol: ProviderProtocol): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.clientCredentialsGrantRequest(protocol.as, protocol.client, protocol.clientAuth.auth, {}, protocol.requestOptions());
  return oauth.processClientCredentialsResponse(protocol.as, protocol.client, response);
}

/** The parameters of the last token request the IdP received. */
function lastTokenRequest(idp: TestIdp): Record<string, string> {
  const found = [...idp.requests].reverse().find((r) => r.path === '/token');
  assert.ok(found, 'the IdP received a token request');
  return found.params;
}

describe('provider protocol object', () => {
  describe('against the test IdP as it ships', () => {
    let idp: TestIdp;
    sharedServer(() => startTestIdp(), (started) => (idp = started));

    it('a public client: ID-token algorithm pinned, no client authentication, http allowed only because the issuer is http on loopback, token parameters on token requests only', async () => {
      const protocol = await source(idp, { tokenParameters: { audience: 'https://api.example.test' } }).open();
      assert.equal(protocol.as.issuer, idp.issuer);
      assert.deepEqual(protocol.client, { client_id: TEST_CLIENT_ID, id_token_signed_response_alg: 'RS256' });
      assert.equal(protocol.clientAuth.method, 'none');
      assert.equal(protocol.usesDPoP, false);
      assert.equal(protocol.requestOptions()[oauth.allowInsecureRequests], true);
      assert.equal('DPoP' in protocol.tokenRequestOptions(), false);
      assert.deepEqual(protocol.tokenRequestOptions().additionalParameters, { audience: 'https://api.example.test' });
      assert.equal('additionalParameters' in protocol.requestOptions(), false);
      // An https issuer never gets the http exception, on loopback neither.
      const https = new ProviderProtocol({ issuer: new URL('https://127.0.0.1:1'), as: protocol.as, client: protocol.client });
      assert.equal(https.requestOptions()[oauth.allowInsecureRequests], undefined);
    });

    it('a secret with both methods listed: client_secret_basic, which the IdP accepts; a wrong secret is refused by the IdP', async () => {
      const service = (secret: string) =>
        new ProviderProtocolSource({
          issuer: new URL(idp.issuer),
          clientId: SERVICE_CLIENT.client_id,
          issuers: new IssuerCache(silentLogger),
          log: silentLogger,
          clientSecret: { get: async () => secret, missing: () => new ConfigError('useClientSecret', 'no secret') },
        });
      const protocol = await service(SERVICE_CLIENT.client_secret).open();
      assert.ok((protocol.as.token_endpoint_auth_methods_supported ?? []).includes('client_secret_post'), 'the IdP lists Post too');
      assert.equal(protocol.clientAuth.method, 'client_secret_basic');
      assert.ok((await clientCredentials(protocol)).access_token);
      assert.equal(lastTokenRequest(idp).client_secret, undefined, 'the secret went in the Authorization header, not the body');
      await assert.rejects(clientCredentials(await service('not-the-secret').open()), (err: unknown) => err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401);
    });

    it('a client with a secret and none stored: the source says so (its own error) before any request', async () => {
      const before = idp.tokenCalls.length;
      const missing = new ConfigError('useClientSecret', 'No client secret is stored (test).');
      const err = await source(idp, { clientSecret: { get: async () => undefined, missing: () => missing } }).open().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(err, missing);
      assert.equal(idp.tokenCalls.length, before, 'no token request');
    });

    it('rediscovery forgets the cached metadata and fetches it again; the protocol hands it to ID-token checks', async () => {
      const logs: string[] = [];
      const s = source(idp, { log: recordingLogger(logs) });
      const first = await s.authorizationServer();
      assert.equal(await s.authorizationServer(), first, 'cached');
      const protocol = await s.open();
      assert.equal(protocol.as, first, 'open() uses the cached metadata');
      const rediscover = protocol.idTokenContext().rediscover;
      assert.ok(rediscover, 'the ID-token check can rediscover');
      const fresh = await rediscover();
      assert.notEqual(fresh, first, 'fetched again');
      assert.equal(fresh.jwks_uri, first.jwks_uri);
      assert.equal(await s.authorizationServer(), fresh, 'the new metadata is cached for the next operation');
      assert.equal(protocol.as, first, 'the operation keeps the metadata it started with');
      assert.ok(logs.some((l) => /fetching its keys again/.test(l)), logs.join('\n'));
      // Made from metadata alone (no source), there is nothing to rediscover with.
      assert.equal(new ProviderProtocol({ issuer: new URL(idp.issuer), as: first, client: protocol.client }).idTokenContext().rediscover, undefined);
    });

    it('open({ as }) asks no discovery; a refused discovery is not hidden by it', async () => {
      const known = await source(idp).authorizationServer();
      const issuers = new IssuerCache(silentLogger);
      const down = new ProviderProtocolSource({ issuer: new URL('http://127.0.0.1:1'), clientId: TEST_CLIENT_ID, issuers, log: silentLogger });
      const protocol = await down.open({ as: known, timeoutMs: 2_000 });
      assert.equal(protocol.as, known);
      await assert.rejects(down.open({ timeoutMs: 2_000 }), (err: unknown) => err instanceof OidcError && err.kind === 'network');
    });

    it('DPoP: bound only when asked for, with the provider key; Bearer answers are then refused, and asking without a key is a programming error', async () => {
      const keys = new DPoPKeys(new MemorySecretStore(), 'test.dpop', silentLogger);
      const s = source(idp, { dpopKeys: keys });
      const unbound = await s.open();
      assert.equal(unbound.usesDPoP, false);
      const bound = await s.open({ dpop: true });
      assert.equal(bound.usesDPoP, true);
      assert.equal(bound.dpop, await keys.requestHandle(), "the provider key's handle (it keeps the servers' nonces)");
      assert.equal(bound.tokenRequestOptions().DPoP, bound.dpop);
      assert.equal(bound.proofRequestOptions().DPoP, bound.dpop);
      assert.equal('DPoP' in bound.requestOptions(), false, 'no proof where no token is sent (revocation, PAR)');
      assert.throws(() => bound.tokenTypes().recognizedTokenTypes.bearer!(new Response(), {} as oauth.TokenEndpointResponse), /Bearer token although DPoP was requested/);
      assert.throws(() => unbound.tokenTypes().recognizedTokenTypes.dpop!(new Response(), {} as oauth.TokenEndpointResponse), /DPoP-bound token although/);
      await assert.rejects(source(idp).open({ dpop: true }), /without a DPoP key/);
    });
  });

  describe('against an IdP that lists only client_secret_post', () => {
    let idp: TestIdp;
    before(async () => {
      idp = await startTestIdp({
        front: authMethods(['client_secret_post']),
        clients: [{ ...POST_CLIENT, token_endpoint_auth_method: 'client_secret_post', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
      });
    });
    after(() => idp.close());

    it('sends the secret as client_secret_post (in the body), which the IdP accepts', async () => {
      const protocol = await new ProviderProtocolSource({
        issuer: new URL(idp.issuer),
        clientId: POST_CLIENT.client_id,
        issuers: new IssuerCache(silentLogger),
        log: silentLogger,
        clientSecret: { get: async () => POST_CLIENT.client_secret, missing: () => new ConfigError('useClientSecret', 'no secret') },
      }).open();
      assert.equal(protocol.clientAuth.method, 'client_secret_post');
      assert.ok((await clientCredentials(protocol)).access_token);
      assert.equal(lastTokenRequest(idp).client_secret, POST_CLIENT.client_secret, 'the secret went in the body');
    });
  });
});
