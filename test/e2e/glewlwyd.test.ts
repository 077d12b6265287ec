/**
 * The device code against Glewlwyd (Debian's `glewlwyd`, an OpenID Connect server written in C
 * by another team) in code-server's full web workbench, driven like a person: a consumer
 * extension's `getSession(createIfNone)`, VS Code's consent dialog ("Allow"), the extension's
 * device-code modal ("Copy & Open"), the person confirming the code at Glewlwyd, the session
 * arriving at the consumer, and sign-out with the warning that Glewlwyd could not revoke
 * (it refuses revocation from public clients). The integration suite cannot show these dialogs
 * (VS Code refuses them in test mode), hence this file.
 *
 * The world's own oidc-provider starts as in the other e2e suites but is not used: the settings
 * point at Glewlwyd (test/support/glewlwyd.ts). Glewlwyd's login page is a JavaScript app; the
 * person logging in and confirming there is glewlwyd.ts's HTTP robot.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { completeGlewlwydDeviceLogin, freeLoopbackPort, GLEWLWYD_PUBLIC_CLIENT, GLEWLWYD_USER, startGlewlwyd, type Glewlwyd } from '../support/glewlwyd';
import { trackSecrets } from '../support/tokenLedger';
import { LOG_DIR, startWorld } from './harness';
import { suiteLog } from './log';
import { withWorld } from './suite';
import { clickButtonIn, escapeRegExp, settle, until, waitForDialog, waitForNotification } from './workbench';

const SCOPES = ['openid', 'profile', 'email', 'offline_access'];
const ARTIFACTS = path.join(LOG_DIR, 'glewlwyd');
const seen = new Set<string>([GLEWLWYD_USER.password]);
trackSecrets(() => seen);
const log = suiteLog('e2e glewlwyd');

describe('Glewlwyd in the VS Code web workbench: device code through the consent dialog and the modal, sign-out warning', function () {
  this.timeout(180_000);
  let gw: Glewlwyd | undefined;
  let dir: string | undefined;
  const world = withWorld(
    ARTIFACTS,
    log,
    async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-glewlwyd-e2e-'));
      const loopbackPort = await freeLoopbackPort();
      gw = await startGlewlwyd({ dir, loopbackPorts: [loopbackPort] });
      log(`Glewlwyd ${gw.issuer} (pid ${gw.pid}, log ${gw.logFile})`);
      return startWorld(log, {
        name: 'glewlwyd',
        acceptWebRedirect: false,
        settings: {
          'oidcAuth.issuer': gw.issuer,
          'oidcAuth.clientId': GLEWLWYD_PUBLIC_CLIENT,
          'oidcAuth.flow': 'deviceCode',
          'oidcAuth.loopbackPort': loopbackPort,
        },
      });
    },
    {
      cleanup: async () => {
        await gw?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      },
    },
  );
  const w = () => {
    if (!gw) throw new Error('setup failed');
    return { ...world(), gw };
  };

  it('signs in with the device code for a consumer, which gets a token Glewlwyd accepts; sign-out warns that Glewlwyd could not revoke', async () => {
    const { page, driver, gw } = w();
    const pending = settle(driver.getSession(SCOPES, { createIfNone: true }, 120_000));
    const consent = await waitForDialog(page, /wants to sign in using OpenID Connect/, 30_000);
    await clickButtonIn(consent.box, 'Allow');

    const host = new URL(gw.issuer).host;
    const modal = await waitForDialog(page, /Sign in at/, 30_000);
    log(`device modal: ${JSON.stringify(modal.message)} | ${JSON.stringify(modal.detail)}`);
    const m = new RegExp(`^Sign in at ${escapeRegExp(host)} with the code (\\S+)$`).exec(modal.message);
    assert.ok(m, `the modal names Glewlwyd's host and the code: ${JSON.stringify(modal.message)}`);
    const code = m[1]!.replace(/\u2011/g, '-');
    const verification = /open (\S+) in your browser/.exec(modal.detail)?.[1];
    assert.ok(verification && verification.startsWith(gw.origin), `the detail names Glewlwyd's verification address: ${modal.detail}`);
    await clickButtonIn(modal.box, 'Copy & Open');

    // The person confirms the code at Glewlwyd (on this or another device).
    await completeGlewlwydDeviceLogin(verification, code);
    const outcome = await pending;
    assert.ok(outcome.ok, `getSession failed: ${outcome.ok ? '' : outcome.error.message}`);
    const session = outcome.value;
    assert.ok(session, 'getSession(createIfNone) gave a session');
    seen.add(session.accessToken);
    assert.equal(session.account.label, GLEWLWYD_USER.email);
    const userinfo = await fetch(`${gw.issuer}/userinfo`, { headers: { authorization: `Bearer ${session.accessToken}` } });
    assert.equal(userinfo.status, 200, 'Glewlwyd accepts the access token');
    await userinfo.body?.cancel();

    await driver.call('executeCommand', { id: 'oidcAuth.signOut' }, 30_000);
    const warning = await waitForNotification(page, /could not be told to revoke/, 20_000, () =>
      driver.call('executeCommand', { id: 'notifications.showList' }, 10_000),
    );
    log(`sign-out: (${warning.severity}) ${JSON.stringify(warning.message)}`);
    assert.equal(warning.severity, 'warning');
    assert.match(warning.message, /^You are signed out in VS Code, but the identity provider could not be told to revoke the tokens/);
    await until('the account to go', 15_000, async () => ((await driver.call<unknown[]>('getAccounts', {}, 15_000)).length === 0 ? true : undefined));
    assert.equal(await driver.getSession(SCOPES, { silent: true }, 15_000), null, 'no session after sign-out');
  });
});
