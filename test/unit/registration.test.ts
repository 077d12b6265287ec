/** Dynamic client registration (RFC 7591) against oidc-provider, then a sign-in with that client. */
import * as assert from 'node:assert/strict';
import { parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { discover } from '../../src/core/issuer';
import { silentLogger } from '../../src/core/logger';
import { parseRegistration, registerClient } from '../../src/core/registration';
import { startTestIdp } from '../support/idp';
import { robotSignIn, testManager } from '../support/coreHarness';

describe('dynamic client registration (RFC 7591)', () => {
  it('registers a public native client and signs in with it', async () => {
    const idp = await startTestIdp({ registration: true });
    try {
      const issuer = new URL(idp.issuer);
      const as = await discover(issuer, {}, silentLogger);
      const registration = await registerClient(as, { issuer });
      assert.ok(registration.clientId);
      assert.notEqual(registration.clientId, idp.clientId);
      const sent = idp.requests.find((r) => r.path === '/reg');
      assert.ok(sent, 'one registration request');
      assert.deepEqual(parseRegistration(JSON.stringify(registration), as.issuer), registration);
      assert.equal(parseRegistration(JSON.stringify(registration), 'https://other.example'), undefined);

      const config = parseProviderConfig({ issuer: idp.issuer, scopes: ['openid', 'email'] }, []);
      const manager = testManager({ ...config, clientId: registration.clientId });
      const session = await manager.createSession(['openid'], robotSignIn());
      assert.equal(session.accountLabel, 'alice@example.test');
      assert.equal((await idp.introspect(session.accessToken)).client_id, registration.clientId);
    } finally {
      await idp.close();
    }
  });

  it('says the client ID is needed when the IdP offers no registration', async () => {
    const idp = await startTestIdp();
    try {
      const issuer = new URL(idp.issuer);
      const as = await discover(issuer, {}, silentLogger);
      await assert.rejects(
        registerClient(as, { issuer }),
        (e: unknown) => e instanceof OidcError && e.kind === 'config' && /client ID is not set/.test(e.message),
      );
    } finally {
      await idp.close();
    }
  });
});
