/** Dynamic client registration (RFC 7591) against oidc-provider, then a sign-in with that client. */
import * as assert from 'node:assert/strict';
import { parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { discover, IssuerCache } from '../../src/core/issuer';
import { silentLogger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/pages';
import { parseRegistration, registerClient } from '../../src/core/registration';
import { MemorySecretStore } from '../../src/core/secretStore';
import { SessionManager } from '../../src/core/sessionManager';
import { startTestIdp } from '../support/idp';
import { completeLogin } from '../support/loginRobot';

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
      const manager = new SessionManager({
        config: { ...config, clientId: registration.clientId },
        store: new MemorySecretStore(),
        issuers: new IssuerCache(silentLogger),
        flow: new LoopbackFlow(0),
        log: silentLogger,
        onDidChange: () => undefined,
        proactiveRefresh: false,
      });
      const session = await manager.createSession(['openid'], {
        signal: new AbortController().signal,
        templates: loadPageTemplates(undefined),
        strings: ENGLISH_PAGE_STRINGS,
        openBrowser: async (url) => void completeLogin(url),
      });
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
