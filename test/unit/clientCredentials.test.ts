/** Service accounts: the client credentials grant against oidc-provider, cached and shared. */
import * as assert from 'node:assert/strict';
import { ClientCredentialsTokens } from '../../src/core/clientCredentials';
import { parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { IssuerCache } from '../../src/core/issuer';
import { silentLogger } from '../../src/core/logger';
import { SERVICE_CLIENT, startTestIdp, type TestIdp } from '../support/idp';

describe('service accounts (client credentials)', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ accessTokenTtl: 120 });
  });
  after(() => idp.close());

  function tokens(secret: string | undefined, now?: () => number) {
    const config = parseProviderConfig({ issuer: idp.issuer, clientId: SERVICE_CLIENT.client_id, grant: 'clientCredentials', scopes: [] }, []);
    assert.equal(config.grant, 'clientCredentials');
    return new ClientCredentialsTokens({
      config,
      issuers: new IssuerCache(silentLogger),
      log: silentLogger,
      secret: async () => secret,
      ...(now ? { now } : {}),
    });
  }
  const grants = () => idp.tokenCalls.filter((c) => c.grantType === 'client_credentials').length;

  it('gets a token the IdP accepts, once for many concurrent callers, then from the cache', async () => {
    const t = tokens(SERVICE_CLIENT.client_secret);
    const before = grants();
    const results = await Promise.all(Array.from({ length: 200 }, () => t.token([])));
    assert.equal(grants() - before, 1);
    assert.equal(new Set(results.map((r) => r.accessToken)).size, 1);
    assert.equal((await idp.introspect(results[0]!.accessToken)).active, true);
    await t.token([]);
    assert.equal(grants() - before, 1, 'served from the cache');
  });

  it('renews a token shortly before it expires', async () => {
    let clock = Date.now();
    const t = tokens(SERVICE_CLIENT.client_secret, () => clock);
    const first = await t.token([]);
    const before = grants();
    clock = first.expiresAt - 30_000; // within the 60 s skew
    const second = await t.token([]);
    assert.equal(grants() - before, 1);
    assert.notEqual(second.accessToken, first.accessToken);
  });

  it('says clearly when the secret is wrong or missing', async () => {
    await assert.rejects(tokens('wrong-secret').token([]), (e: unknown) => e instanceof OidcError && /rejected the client ID or secret/.test(e.message));
    await assert.rejects(tokens(undefined).token([]), (e: unknown) => e instanceof OidcError && /No client secret is stored/.test(e.message));
  });

  it('refuses an unknown grant setting', () => {
    assert.throws(() => parseProviderConfig({ issuer: idp.issuer, clientId: 'x', grant: 'password' }, []), /grant must be/);
  });
});
