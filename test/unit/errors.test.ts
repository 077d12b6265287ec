/** What each failure tells the user: the kind and reason the VS Code layer picks advice by. */
import * as assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { ENGLISH_PAGE_STRINGS, loadPageTemplates } from '../../src/core/flows/pages';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { describeFailure } from '../../src/core/transport/requestErrors';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import type { SecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { startTestIdp } from '../support/idp';
import { completeLogin } from '../support/loginRobot';

const ctx = { issuer: new URL('https://login.example.com') };

describe('failures in words a person can act on', () => {
  it('a token not valid at this computer’s time is a clock problem', () => {
    const err = describeFailure(
      new oauth.OperationProcessingError('unexpected JWT "nbf" (not before) claim value', { code: oauth.JWT_TIMESTAMP_CHECK }),
      'the token request',
      ctx,
    );
    assert.equal(err.reason, 'clockSkew');
    assert.match(err.message, /clock/);
  });

  it('an unreachable IdP says so, naming the host', () => {
    const err = describeFailure(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'discovery', ctx);
    assert.equal(err.kind, 'network');
    assert.equal(err.reason, 'unreachable');
    assert.match(err.message, /Could not reach the identity provider at login\.example\.com \(ECONNREFUSED\)/);
  });

  it('a timeout says the IdP did not answer in time', () => {
    const err = describeFailure(new DOMException('timed out', 'TimeoutError'), 'the token request', ctx);
    assert.equal(err.kind, 'timeout');
    assert.match(err.message, /did not answer the token request in time/);
  });

  it('an OAuth error from the IdP keeps its code and description', () => {
    const response = new Response('{}');
    const err = describeFailure(
      new oauth.ResponseBodyError('server responded with an error', {
        cause: { error: 'invalid_client', error_description: 'client not found' },
        response,
      }),
      'the token request',
      ctx,
    );
    assert.equal(err.kind, 'idp');
    assert.equal(err.oauthError, 'invalid_client');
    assert.match(err.message, /invalid_client: client not found/);
  });

  it('a keychain that refuses to store is a storage error, and no session is reported', async () => {
    const idp = await startTestIdp({ par: false });
    try {
      const broken: SecretStore = {
        get: async () => undefined,
        store: async () => {
          throw new Error('Cannot create an item in a locked collection');
        },
        delete: async () => undefined,
      };
      const config: ProviderConfig = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'loopback', loopbackPort: 0 };
      let changes = 0;
      const manager = new SessionManager({
        config,
        store: broken,
        issuers: new IssuerCache(silentLogger),
        flow: new LoopbackFlow(0),
        log: silentLogger,
        onDidChange: () => changes++,
      });
      const err = await manager
        .createSession(['openid'], {
          signal: new AbortController().signal,
          templates: loadPageTemplates(undefined),
          strings: ENGLISH_PAGE_STRINGS,
          openBrowser: async (url) => void completeLogin(url),
        })
        .then(
          () => assert.fail('expected a failure'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof OidcError);
      assert.equal(err.kind, 'storage');
      assert.match(err.message, /OS keychain \(Cannot create an item in a locked collection\)/);
      assert.equal(changes, 0);
    } finally {
      await idp.close();
    }
  });
});
