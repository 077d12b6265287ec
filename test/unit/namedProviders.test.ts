/** Named providers: settings checked entry by entry; audience and resource reach the IdP. */
import * as assert from 'node:assert/strict';
import type { ProviderConfig } from '../../src/core/config';
import { parseProviderConfig } from '../../src/core/config';
import { parseNamedProviders } from '../../src/core/namedProviders';
import { setTranslator } from '../../src/core/l10n';
import { storageKey } from '../../src/core/storage/keys';
import { startTestIdp } from '../support/idp';
import { robotSignIn, testManager } from '../support/coreHarness';

describe('oidcAuth.providers', () => {
  it('names the field from the error, never from how its message begins', () => {
    const entries = [{ id: 'res', issuer: 'https://z.example', clientId: 'c', resource: 'not a uri' }];
    assert.match(parseNamedProviders(entries, []).problems[0]!, /^oidcAuth\.providers\[0\] \(res\): resource must be an absolute URI/, 'English names it first');
    // A translation that happens to begin with the setting's name, and one that names it last:
    // the report cannot know how a translation words the sentence, so it always names the field.
    for (const translate of [(m: string) => `resource ${m}`, (m: string) => `${m} (resource)`]) {
      setTranslator(translate);
      try {
        assert.match(parseNamedProviders(entries, []).problems[0]!, /^oidcAuth\.providers\[0\] \(res\): resource: /);
      } finally {
        setTranslator(undefined);
      }
    }
  });

  it('accepts valid entries and reports each bad one with the field at fault', () => {
    const result = parseNamedProviders(
      [
        { id: 'work', label: 'Company Keycloak', issuer: 'https://sso.example.com/realms/main', clientId: 'vscode' },
        { id: 'bad id!', issuer: 'https://x.example', clientId: 'c' },
        { id: 'plain', issuer: 'http://login.example.com', clientId: 'c' },
        { id: 'noport', issuer: 'https://x.example', clientId: 'c', loopbackPort: 99999 },
        { id: 'WORK', issuer: 'https://y.example', clientId: 'c' },
        { id: 'res', issuer: 'https://z.example', clientId: 'c', resource: 'not a uri' },
        'nonsense',
        { id: 'api', issuer: 'https://auth.example.com/', clientId: 'c', audience: 'https://api.example.com', scopes: ['openid'] },
      ],
      ['openid', 'offline_access'],
    );
    assert.deepEqual(
      result.providers.map((p) => [p.id, p.label]),
      [
        ['work', 'Company Keycloak'],
        ['api', 'api'],
      ],
    );
    assert.equal(result.providers[1]!.config.audience, 'https://api.example.com');
    assert.deepEqual(result.providers[1]!.config.scopes, ['openid']);
    assert.deepEqual(result.providers[0]!.config.scopes, ['openid', 'offline_access']);
    assert.equal(result.problems.length, 6);
    assert.match(result.problems[0]!, /^oidcAuth\.providers\[1\]\.id:/);
    assert.match(result.problems[1]!, /^oidcAuth\.providers\[2\] \(plain\): issuer: .*uses http/);
    assert.match(result.problems[2]!, /^oidcAuth\.providers\[3\] \(noport\): loopbackPort: /);
    assert.match(result.problems[3]!, /^oidcAuth\.providers\[4\]\.id: "WORK" is used by an earlier entry/);
    assert.match(result.problems[4]!, /^oidcAuth\.providers\[5\] \(res\): resource must be an absolute URI/);
    assert.match(result.problems[5]!, /^oidcAuth\.providers\[6\]: must be an object/);
    assert.deepEqual(parseNamedProviders(undefined, []).providers, []);
    assert.match(parseNamedProviders({}, []).problems[0]!, /must be a list/);
  });

  it('keys each provider’s storage by issuer and client id', () => {
    const { providers } = parseNamedProviders(
      [
        { id: 'a', issuer: 'https://one.example', clientId: 'c' },
        { id: 'b', issuer: 'https://two.example', clientId: 'c' },
        { id: 'c', issuer: 'https://one.example', clientId: 'd' },
      ],
      [],
    );
    const keys = providers.map((p) => storageKey(p.config.issuer.href, p.config.clientId));
    assert.equal(new Set(keys).size, 3);
  });

  it('sends audience, resource and extra parameters to the authorization and token requests', async () => {
    const idp = await startTestIdp({ resourceIndicators: true, par: false });
    try {
      const config: ProviderConfig = parseProviderConfig(
        {
          issuer: idp.issuer,
          clientId: idp.clientId,
          scopes: ['openid', 'offline_access'],
          audience: 'https://api.example.test',
          resource: 'https://api.example.test/',
          extraAuthorizationParameters: { ui_locales: 'de', client_id: 'must-not-override' },
        },
        [],
      );
      const manager = testManager(config);
      const session = await manager.createSession(['api.read'], robotSignIn());
      const auth = idp.requests.find((r) => r.path === '/auth')!.params;
      assert.equal(auth.audience, 'https://api.example.test');
      assert.equal(auth.resource, 'https://api.example.test/');
      assert.equal(auth.ui_locales, 'de');
      assert.equal(auth.client_id, idp.clientId);
      const token = idp.requests.find((r) => r.path === '/token' && r.params.grant_type === 'authorization_code')!.params;
      assert.equal(token.resource, 'https://api.example.test/');
      assert.equal(token.audience, 'https://api.example.test');
      // The IdP honoured the resource: the access token is a JWT for that audience.
      const payload = JSON.parse(Buffer.from(session.accessToken.split('.')[1]!, 'base64url').toString()) as { aud: string };
      assert.equal(payload.aud, 'https://api.example.test/');
      await manager.freshSession(session.id, session.accessToken);
      const refresh = idp.requests.find((r) => r.path === '/token' && r.params.grant_type === 'refresh_token')!.params;
      assert.equal(refresh.resource, 'https://api.example.test/');
    } finally {
      await idp.close();
    }
  });
});
