/**
 * Restricted Mode, end to end in the VS Code web workbench (code-server's entry.js + Chromium)
 * with workspace trust on: a folder that was never trusted, whose `.vscode/settings.json` points
 * sign-in at another issuer (and another client ID, scopes, flow, loopback port, DPoP and a named
 * provider), opens in Restricted Mode. oidc-auth is active there, and sign-in goes to the
 * issuer of the user's settings with the user's client and flow; the folder's issuer never gets
 * a single request. Screenshots and logs go to .test-logs/e2e-restricted/.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { repoRoot } from '../support/vscode/install';
import type { ReportedSession } from './driver';
import { CONSUMER_ID, startWorld } from './harness';
import { suiteLog } from './log';
import { isIdpPage, withWorld } from './suite';
import { clickDialogButton, completeIdpLogin, waitForTab } from './workbench';

const LOG_DIR = path.join(repoRoot, '.test-logs', 'e2e-restricted');
const EXTENSION_ID = 'oidc-auth.oidc-auth';
/** A setting Restricted Mode leaves to the folder: proves the folder's settings.json was read. */
const FOLDER_TIMEOUT_S = 123;
const log = suiteLog('e2e-restricted');

interface WorkspaceState {
  isTrusted: boolean;
  active: Record<string, boolean | null>;
  setting: { globalValue: unknown; workspaceValue: unknown; value: unknown };
}

/** The issuer an untrusted folder names: counts every request it gets (it should get none). */
async function startFolderIssuer(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('Restricted Mode: an untrusted folder cannot point sign-in elsewhere', function () {
  this.timeout(180_000);
  this.slow(30_000);

  let folderIssuer: Awaited<ReturnType<typeof startFolderIssuer>>;
  const w = withWorld(
    LOG_DIR,
    log,
    async () => {
      folderIssuer = await startFolderIssuer();
      const world = await startWorld(log, {
        name: 'restricted',
        untrustedFolder: true,
        folderSettings: {
          'oidcAuth.issuer': folderIssuer.url,
          'oidcAuth.clientId': 'folder-client',
          'oidcAuth.scopes': ['openid', 'folder.scope'],
          'oidcAuth.flow': 'deviceCode',
          'oidcAuth.loopbackPort': 1,
          'oidcAuth.dpop': true,
          'oidcAuth.providers': [{ id: 'folder', issuer: folderIssuer.url, clientId: 'folder-client', extraAuthorizationParameters: { prompt: 'none' } }],
          'oidcAuth.signInTimeout': FOLDER_TIMEOUT_S,
        },
      });
      log(`user issuer ${world.issuer}, folder issuer ${folderIssuer.url}`);
      return world;
    },
    { cleanup: () => folderIssuer?.close() },
  );
  const state = (key: string) =>
    w().driver.call<WorkspaceState>('workspaceState', { extensions: [EXTENSION_ID, CONSUMER_ID], key }, 15_000);

  it('the folder is untrusted, oidc-auth is active in it, and its issuer setting is not used', async () => {
    const issuer = await state('issuer');
    log(`workspace state: ${JSON.stringify(issuer)}`);
    assert.equal(issuer.isTrusted, false, 'the folder opened in Restricted Mode');
    assert.equal(issuer.active[EXTENSION_ID], true, 'oidc-auth is active in the untrusted folder');
    assert.equal(issuer.setting.value, w().issuer, "the issuer in effect is the user's");
    const timeout = await state('signInTimeout');
    assert.equal(timeout.setting.value, FOLDER_TIMEOUT_S, "the folder's settings.json was read (an unrestricted setting of it applies)");
  });

  it("sign-in goes to the user's issuer with the user's client and flow; the folder's issuer gets nothing", async () => {
    const { page, context, driver, idp, completedAuthorizations } = w();
    const completedBefore = completedAuthorizations.length;
    const pending = driver.getSession(['openid'], { createIfNone: true }, 110_000);
    pending.catch(() => undefined); // awaited below
    await clickDialogButton(page, 'Allow', 30_000);
    const tab = await waitForTab(context, (url) => isIdpPage(url, idp.port), 30_000);
    const isCallback = (url: URL) => url.hostname === '127.0.0.1' && url.pathname === '/callback' && Number(url.port) !== idp.port;
    const result = await completeIdpLogin(tab, 'alice', isCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ')}`);
    const session = (await pending) as ReportedSession | null;
    await tab.close();
    assert.ok(session, 'signed in');
    const introspection = await idp.introspect(session.accessToken);
    assert.equal(introspection.active, true);
    assert.equal(introspection.client_id, idp.clientId, "the user's client ID, not the folder's");
    const completed = completedAuthorizations.slice(completedBefore);
    assert.equal(completed.length, 1, "one authorization at the user's issuer");
    assert.match(completed[0]!.redirect_uri ?? '', /^http:\/\/127\.0\.0\.1:\d+\/callback$/, "the user's loopback flow, not the folder's device code");
    assert.notEqual(new URL(completed[0]!.redirect_uri!).port, '1', "not the folder's loopback port");
    assert.ok(!(completed[0]!.scope ?? '').split(' ').includes('folder.scope'), `scope ${completed[0]!.scope}`);
    assert.deepEqual(folderIssuer.requests, [], "the folder's issuer got no request");
  });
});
