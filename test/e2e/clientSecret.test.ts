/**
 * A client with a secret (a Google "Desktop app" client), in the real VS Code web workbench
 * (code-server's entry.js + Chromium) with the packaged extension: the first sign-in asks for the
 * secret in a password box, the IdP (which refuses the client without it, client_secret_basic)
 * issues tokens, and the secret is in no settings file, no file of the user data directory and no
 * log; a second account signs in beside the first (the IdP is asked to choose an account); a wrong
 * secret entered with "Set Client Secret…" is refused by the IdP (invalid_client), is
 * not kept, and the next sign-in asks again.
 *
 * One code-server, browser and IdP for the file. Screenshots and logs go to
 * .test-logs/e2e/client-secret/.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { E2E_DIR, LOG_DIR, startWorld, type World } from './harness';
import { suiteLog } from './log';
import { LOGIN, filesContaining, isIdpPage, stepwise } from './suite';
import {
  completeIdpLogin,
  readQuickInput,
  runCommandFromPalette,
  settle,
  typeIntoQuickInput,
  until,
  waitForTab,
  waitForToast,
} from './workbench';

const CLIENT_ID = 'desktop-with-secret';
const SECRET = 'e2e-desktop-secret-4f1c0b7a';
const WRONG = 'e2e-wrong-secret-9d2e';
const ARTIFACTS = path.join(LOG_DIR, 'client-secret');
const log = suiteLog('client-secret');

/** The world: an IdP that knows the client only with its secret (client_secret_basic), and the extension told to use one. */
async function startSecretWorld(): Promise<World> {
  const world = await startWorld(log, {
    name: 'client-secret',
    idp: {
      par: false,
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: SECRET,
          application_type: 'native',
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
        },
      ],
    },
    settings: { 'oidcAuth.clientId': CLIENT_ID, 'oidcAuth.useClientSecret': true },
  });
  log(`issuer ${world.issuer} (${world.mode})`);
  return world;
}

describe('a client with a secret in the VS Code web workbench: password box, SecretStorage only, another account, a refused secret asked again', function () {
  this.timeout(120_000);
  this.slow(30_000);

  const w = stepwise(ARTIFACTS, log, startSecretWorld, {
    cleanup: () => {
      // No log holds the secret (the server's and VS Code's, as copied here, where they are final).
      const leaks = filesContaining(ARTIFACTS, SECRET);
      fs.cpSync(ARTIFACTS, path.join(E2E_DIR, 'client-secret-artifacts'), { recursive: true });
      assert.deepEqual(leaks, [], 'no log holds the client secret');
    },
  });
  const isIdpTab = (url: string) => isIdpPage(url, w().idp.port);
  const isLoopbackCallback = (url: URL) =>
    url.hostname === '127.0.0.1' && url.pathname === '/callback' && Number(url.port) !== w().idp.port && Number(url.port) !== w().server.port;
  const codeGrants = (status: number) => w().idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === status).length;

  /** Waits for the client secret box and checks it is a password box; returns its title. */
  async function secretBox(): Promise<string> {
    const { page } = w();
    const box = await until('the client secret box', 30_000, async () => {
      const q = await readQuickInput(page, 2000).catch(() => undefined);
      return q && /Client secret for/.test(q.title) ? q : undefined;
    });
    const type = await page.locator('.quick-input-widget .quick-input-box input').first().getAttribute('type');
    assert.equal(type, 'password', 'the secret is typed into a password box');
    return box.title;
  }

  it('1. the first sign-in asks for the secret in a password box; the IdP gets it (client_secret_basic) and issues tokens', async function () {
    const { page, driver, context } = w();
    const refusedBefore = codeGrants(401) + codeGrants(400);
    const pending = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 90_000));
    const title = await secretBox();
    log(`secret box: "${title}"`);
    await typeIntoQuickInput(page, SECRET);
    await page.keyboard.press('Enter');
    const tab = await waitForTab(context, isIdpTab, 30_000);
    await page.bringToFront();
    const result = await completeIdpLogin(tab, LOGIN, isLoopbackCallback, 60_000);
    assert.match(result.title, /Signed in/);
    await tab.close();
    await until('the code exchange', 20_000, () => (codeGrants(200) === 1 ? true : undefined));
    assert.equal(codeGrants(401) + codeGrants(400), refusedBefore, 'the IdP refused no token request');
    assert.equal((await pending).ok, true);
    // Kept only in SecretStorage: in no settings file and no file of the server's user data.
    const userSettings = fs.readFileSync(path.join(w().server.userDataDir, 'User', 'settings.json'), 'utf8');
    assert.ok(!userSettings.includes(SECRET), 'not in the user settings');
    assert.deepEqual(filesContaining(w().server.userDataDir, SECRET), [], 'in no file of the user data directory');
  });

  it('2. another account while one is signed in: the IdP is asked to choose an account (prompt), and both accounts are listed side by side', async function () {
    const { page, driver, context } = w();
    const completedBefore = w().completedAuthorizations.length;
    const pending = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 90_000));
    const tab = await waitForTab(context, isIdpTab, 30_000);
    await page.bringToFront();
    const result = await completeIdpLogin(tab, 'bob', isLoopbackCallback, 60_000);
    assert.match(result.title, /Signed in/);
    await tab.close();
    assert.equal((await pending).ok, true);
    const completed = w().completedAuthorizations.slice(completedBefore);
    log(`authorization parameters: ${JSON.stringify(completed.map((p) => ({ prompt: p.prompt, login_hint: p.login_hint })))}`);
    // oidc-provider lists no prompt_values_supported and refuses select_account: login is asked.
    assert.equal(completed.at(-1)?.prompt, 'login');
    const accounts = await until('both accounts', 20_000, async () => {
      const listed = (await driver.call<{ label: string }[]>('getAccounts', {}, 15_000)).map((a) => a.label).sort();
      return listed.length === 2 ? listed : undefined;
    });
    assert.deepEqual(accounts, ['alice@example.test', 'bob@example.test']);
  });

  it('3. "Set Client Secret…" takes a wrong secret in a password box; the IdP refuses it, it is not kept, and the next sign-in asks again', async function () {
    const { page, driver, context } = w();
    await runCommandFromPalette(page, 'OpenID Connect: Set Client Secret', 15_000, { focusClick: false });
    await secretBox();
    await typeIntoQuickInput(page, WRONG);
    await page.keyboard.press('Enter');
    await sleepUntilClosed();
    const refusedBefore = w().idp.tokenCalls.filter((c) => c.status === 401 || c.error === 'invalid_client').length;
    // A third account: the wrong secret goes with its code exchange.
    const pending = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 90_000));
    const tab = await waitForTab(context, isIdpTab, 30_000);
    await page.bringToFront();
    await completeIdpLogin(tab, 'carol', isLoopbackCallback, 60_000).catch(() => undefined);
    await tab.close().catch(() => undefined);
    const error = await waitForToast(page, /invalid_client|rejected the token request/, 30_000);
    log(`refused: (${error.severity}) ${JSON.stringify(error.message)}`);
    assert.equal(error.severity, 'error');
    assert.ok(w().idp.tokenCalls.filter((c) => c.status === 401 || c.error === 'invalid_client').length > refusedBefore, 'the IdP refused the wrong secret');
    await pending;
    // The refused secret was dropped: the next sign-in asks for it again.
    const again = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 90_000));
    await secretBox();
    await page.keyboard.press('Escape');
    await again;
    assert.deepEqual(filesContaining(w().server.userDataDir, WRONG), [], 'the wrong secret is in no file either');
  });

  async function sleepUntilClosed(): Promise<void> {
    await until('the secret box to close', 10_000, async () =>
      (await w().page.locator('.quick-input-widget').isVisible().catch(() => false)) ? undefined : true,
    );
  }
});
