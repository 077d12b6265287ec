/**
 * A session the IdP ends (refresh token revoked there) is reported as `ended`, so the VS Code
 * layer tells the user once with "Sign In Again"; a user's own sign-out, a transient fault and a
 * window that only adopts another's removal are not.
 */
import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import type { SessionManager, SessionsChange } from '../../src/core/sessions/sessionManager';
import { storageKey } from '../../src/core/storage/keys';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { robotSignIn, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';

describe('sessions the identity provider ends', () => {
  let idp: TestIdp;
  let dir: string;
  const managers: SessionManager[] = [];
  before(async () => {
    idp = await startTestIdp({ rotateRefreshToken: true });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-ended-'));
  });
  after(async () => {
    for (const m of managers) m.dispose();
    await idp.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function manager(store: MemorySecretStore, changes: SessionsChange[]): SessionManager {
    const config: ProviderConfig = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid', 'email'], flow: 'loopback', loopbackPort: 0 };
    const m = testManager(config, {
      store,
      storage: openSessionStorage(store, storageKey(config.issuer.href, config.clientId), { folder: dir }),
      onDidChange: (c) => void changes.push(c),
    });
    managers.push(m);
    return m;
  }

  const signIn = (m: SessionManager) => m.createSession(['api.read'], robotSignIn('dana'));

  async function revokeAtIdp(refreshToken: string): Promise<void> {
    const res = await fetch(`${idp.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: idp.clientId }),
    });
    assert.equal(res.status, 200);
  }

  it('invalid_grant: removed and reported as ended in the window that found out, only removed in the others', async () => {
    const store = new MemorySecretStore();
    const changes: SessionsChange[] = [];
    const otherChanges: SessionsChange[] = [];
    const m = manager(store, changes);
    const other = manager(store, otherChanges);
    const session = await signIn(m);
    assert.equal((await other.getSessionsWithoutRefresh()).length, 1);

    // A 503 first: the session stays and nothing is reported as ended.
    idp.injectTokenResponses.push({ status: 503, body: '{"error":"temporarily_unavailable"}', contentType: 'application/json' });
    const kept = await m.freshSession(session.id, session.accessToken);
    assert.equal(kept?.id, session.id);
    assert.ok(changes.every((c) => !c.ended?.length), 'a transient fault ends nothing');

    await revokeAtIdp(session.refreshToken!);
    assert.equal(await m.freshSession(session.id, session.accessToken), undefined);
    const ended = changes.filter((c) => c.ended?.length);
    assert.equal(ended.length, 1);
    assert.deepEqual(ended[0]!.ended!.map((e) => e.session.id), [session.id]);
    assert.deepEqual(ended[0]!.removed.map((s) => s.id), [session.id]);

    await other.reload();
    assert.deepEqual(await other.getSessionsWithoutRefresh(), []);
    assert.ok(otherChanges.some((c) => c.removed.some((s) => s.id === session.id)), 'the other window hears of the removal');
    assert.ok(otherChanges.every((c) => !c.ended?.length), 'but does not announce it again');
  });

  it("the user's own sign-out is not reported as ended", async () => {
    const changes: SessionsChange[] = [];
    const m = manager(new MemorySecretStore(), changes);
    const session = await signIn(m);
    await m.removeSessions([session.id]);
    assert.ok(changes.some((c) => c.removed.some((s) => s.id === session.id)));
    assert.ok(changes.every((c) => !c.ended?.length));
  });
});
