/** Service accounts: the client credentials grant against oidc-provider, cached and shared. */
import * as assert from 'node:assert/strict';
import { ClientCredentialsTokens } from '../../src/core/protocol/clientCredentials';
import { parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { IssuerCache } from '../../src/core/protocol/discovery';
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

  it('2 s tokens: callers every 20 ms get one grant per lifetime, never two within a second, never an expired token', async () => {
    const short = await startTestIdp({ serviceTokenTtl: 2 });
    try {
      const config = parseProviderConfig({ issuer: short.issuer, clientId: SERVICE_CLIENT.client_id, grant: 'clientCredentials', scopes: [] }, []);
      const t = new ClientCredentialsTokens({ config, issuers: new IssuerCache(silentLogger), log: silentLogger, secret: async () => SERVICE_CLIENT.client_secret });
      const first = await t.token([]);
      assert.equal(first.expiresAt - Date.now() <= 2_000 && first.expiresAt - Date.now() > 1_000, true, 'a 2 s token');
      const end = Date.now() + 6_000;
      let calls = 0;
      const expiredHandedOut: number[] = [];
      while (Date.now() < end) {
        const token = await t.token([]);
        if (token.expiresAt <= Date.now()) expiredHandedOut.push(token.expiresAt);
        calls++;
        await new Promise((r) => setTimeout(r, 20));
      }
      const made = short.tokenCalls.filter((c) => c.grantType === 'client_credentials' && c.status === 200);
      // 6 s of 2 s tokens renewed a tenth early: about 3 renewals after the first grant (± 1 for the edges).
      assert.ok(made.length - 1 >= 2 && made.length - 1 <= 5, `${made.length - 1} renewals for ${calls} calls in 6 s`);
      const gaps = made.slice(1).map((c, n) => c.at - made[n]!.at);
      assert.ok(gaps.every((g) => g >= 1_000 - 50), `never two grants within a second (${gaps.join(', ')} ms)`);
      assert.deepEqual(expiredHandedOut, [], 'no expired token handed out');
    } finally {
      await short.close();
    }
  });

  it('60 s tokens: renewed in the last tenth of the lifetime (6 s before expiry), not 60 s before', async () => {
    const mid = await startTestIdp({ serviceTokenTtl: 60 });
    try {
      let clock = Date.now();
      const config = parseProviderConfig({ issuer: mid.issuer, clientId: SERVICE_CLIENT.client_id, grant: 'clientCredentials', scopes: [] }, []);
      const t = new ClientCredentialsTokens({ config, issuers: new IssuerCache(silentLogger), log: silentLogger, secret: async () => SERVICE_CLIENT.client_secret, now: () => clock });
      const first = await t.token([]);
      assert.equal(first.expiresAt - clock, 60_000);
      const count = () => mid.tokenCalls.filter((c) => c.grantType === 'client_credentials').length;
      const before = count();
      clock = first.expiresAt - 30_000;
      assert.equal((await t.token([])).accessToken, first.accessToken, 'not due 30 s before expiry');
      clock = first.expiresAt - 6_500;
      assert.equal((await t.token([])).accessToken, first.accessToken, 'not due 6.5 s before expiry');
      assert.equal(count(), before);
      clock = first.expiresAt - 5_500;
      assert.notEqual((await t.token([])).accessToken, first.accessToken, 'renewed 5.5 s before expiry');
      assert.equal(count() - before, 1);
    } finally {
      await mid.close();
    }
  });

  it('says clearly when the secret is wrong or missing', async () => {
    await assert.rejects(tokens('wrong-secret').token([]), (e: unknown) => e instanceof OidcError && /rejected the client ID or secret/.test(e.message));
    await assert.rejects(tokens(undefined).token([]), (e: unknown) => e instanceof OidcError && /No client secret is stored/.test(e.message));
  });

  it('refuses an unknown grant setting', () => {
    assert.throws(() => parseProviderConfig({ issuer: idp.issuer, clientId: 'x', grant: 'password' }, []), /grant must be/);
  });
});
