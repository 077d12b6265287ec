/** Dynamic client registration (RFC 7591) against oidc-provider, then a sign-in with that client. */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_IDP_TEXT } from '../../src/core/transport/requestErrors';
import { parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { discover } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { parseRegistration, registerClient } from '../../src/core/protocol/registration';
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

  it("a refusal's error_description reaches the message (what the notification shows) redacted, on one line and bounded", async () => {
    // A credential the IdP echoes (the registration request itself carries none).
    const echoed = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const description = `client rejected; you sent ${echoed}\n<script>alert(1)</script>\r\n${'x'.repeat(20_000)}`;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client_metadata', error_description: description })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const issuer = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const as = { issuer: issuer.href, registration_endpoint: `${issuer.origin}/reg` };
      const err = await registerClient(as, { issuer }).then(
        () => assert.fail('the refusal was taken for a registration'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OidcError && err.kind === 'idp', String(err));
      assert.match(err.message, /refused to register a client for VS Code \(HTTP 400\) \(invalid_client_metadata: client rejected; you sent \[redacted-jwt\] <script>/);
      assert.ok(!err.message.includes(echoed), 'the echoed credential is redacted');
      assert.ok(!/[\r\n]/.test(err.message), 'one line');
      assert.ok(err.message.length < MAX_IDP_TEXT + 120, `bounded: ${err.message.length} characters`);
      assert.ok(err.message.includes('…'), 'says it was cut');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
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
