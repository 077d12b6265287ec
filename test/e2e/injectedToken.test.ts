/**
 * The injected token (`OIDC_AUTH_ACCESS_TOKEN`, and `OIDC_AUTH_CI_ACCESS_TOKEN` for a named
 * provider `ci`) in the server's environment, end to end in the VS Code web workbench
 * (code-server's entry.js + Chromium) with the packaged extension:
 * - each is announced once in a warning naming its variable, also after settings changes that
 *   reconfigure the top-level provider and rebuild the named one (a new label);
 * - Show Status names the variable as the session's source, and no token;
 * - another extension gets it only after VS Code's consent dialog, and then exactly that token;
 *   the exported API gives the same token back (it has no other) and does not retry its 401;
 * - no request reaches either identity provider (the top-level one has no client ID, so a
 *   sign-in would register one), and nothing is stored in the global storage folder.
 * Screenshots and logs go to .test-logs/e2e-injected/.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { repoRoot } from '../support/vscode/install';
import { sleep } from '../support/vscode/async';
import { startTestIdp, type TestIdp } from '../support/idp';
import type { ReportedSession } from './driver';
import { CONSUMER_NAME, startWorld } from './harness';
import { suiteLog } from './log';
import { showStatusDocument, stepwise } from './suite';
import { clickButtonIn, settle, settleChoosingAccount, until, waitForDialog, waitForNotification } from './workbench';

const LOG_DIR = path.join(repoRoot, '.test-logs', 'e2e-injected');
const INJECTED = 'injected-e2e-token-for-the-top-level-provider';
const INJECTED_CI = 'injected-e2e-token-for-the-ci-provider';
const TOP = 'OIDC_AUTH_ACCESS_TOKEN';
const CI = 'OIDC_AUTH_CI_ACCESS_TOKEN';
const SCOPES = ['openid', 'api.read'];
const log = suiteLog('e2e-injected');

describe('an injected token (OIDC_AUTH_ACCESS_TOKEN): announced once, shown in Show Status, behind consent, nothing asked or stored', function () {
  this.timeout(180_000);
  this.slow(30_000);

  let ciIdp: TestIdp;
  /** Every request either IdP got (through its `front`, before anything else sees it). */
  const requests: string[] = [];
  const front = (name: string) => (req: http.IncomingMessage) => {
    requests.push(`${name} ${req.method} ${req.url}`);
    return false;
  };
  const ciProvider = (label: string) => [{ id: 'ci', label, issuer: ciIdp.issuer, clientId: ciIdp.clientId }];

  const w = stepwise(
    LOG_DIR,
    log,
    async () => {
      ciIdp = await startTestIdp({ front: front('ci') });
      const world = await startWorld(log, {
        name: 'injected',
        // Registration offered and no client ID: a sign-in that did not use the token would register one.
        idp: { registration: true, front: front('top') },
        settings: { 'oidcAuth.clientId': '', 'oidcAuth.providers': ciProvider('CI token') },
        env: { [TOP]: INJECTED, [CI]: INJECTED_CI },
      });
      log(`top-level issuer ${world.issuer}, ci issuer ${ciIdp.issuer}`);
      return world;
    },
    { cleanup: () => ciIdp?.close() },
  );

  /** The extension's own log (its output channel) as written so far. */
  function extensionLog(): string {
    const root = path.join(w().server.userDataDir, 'logs');
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'OpenID Connect.log' && path.basename(dir) === 'oidc-auth.oidc-auth') found.push(p);
      }
    };
    if (fs.existsSync(root)) walk(root);
    return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  }
  const count = (text: string, needle: string) => text.split('\n').filter((l) => l.includes(needle)).length;
  /** The announcement's log line (written with the notification, in the same branch). */
  const announced = (providerId: string, variable: string) =>
    count(extensionLog(), `${providerId}: serving the access token from the environment variable ${variable} to every extension`);
  const showCenter = () => w().driver.call('executeCommand', { id: 'notifications.showList' }, 10_000);
  const hideCenter = () => w().driver.call('executeCommand', { id: 'notifications.hideList' }, 10_000);
  /** Every notification the center holds (toasts end up there too), text folded. */
  const allNotifications = async () => {
    await showCenter();
    const items = w().page.locator('.notifications-center .notification-list-item');
    await sleep(300);
    const texts = (await items.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    await hideCenter();
    return texts;
  };

  it('announces each injected token once, in a warning naming its variable', async function () {
    const { page } = w();
    const top = await waitForNotification(page, new RegExp(`${TOP} is set`), 30_000, showCenter);
    log(`announcement: (${top.severity}) ${top.message}`);
    assert.equal(top.severity, 'warning');
    assert.match(top.message, new RegExp(`^The environment variable ${TOP} is set: OpenID Connect serves its token to every extension that asks, instead of signing in\\. Unset it unless this window runs CI or tests\\.`));
    const ci = await waitForNotification(page, new RegExp(`${CI} is set`), 30_000, showCenter);
    assert.equal(ci.severity, 'warning');
    assert.match(ci.message, /CI token serves its token/);
    await page.screenshot({ path: path.join(LOG_DIR, '1-announcements.png') });
    await hideCenter();
    assert.equal(announced('oidc', TOP), 1, `${TOP} announced once`);
    assert.equal(announced('oidc.ci', CI), 1, `${CI} announced once`);
    const texts = await allNotifications();
    log(`notifications: ${JSON.stringify(texts)}`);
    assert.equal(texts.filter((t) => t.includes(`${TOP} is set`)).length, 1);
    assert.equal(texts.filter((t) => t.includes(`${CI} is set`)).length, 1);
  });

  it('is not announced again after settings changes that reconfigure the provider and rebuild the named one (a new label)', async function () {
    const { driver } = w();
    const rebuilt = () => count(extensionLog(), `oidc.ci: using the identity provider ${ciIdp.issuer}/`);
    assert.equal(rebuilt(), 1, 'the named provider was built once so far');
    await driver.updateSetting('providers', ciProvider('CI robot'));
    await driver.updateSetting('issuer', ciIdp.issuer);
    // The rebuilt provider's first log line comes after its announcement would have: the log has it.
    await until('the named provider rebuilt (its log line)', 20_000, () => (rebuilt() === 2 ? true : undefined));
    await until('the top-level provider moved to the other issuer', 20_000, () =>
      extensionLog().includes(`oidc: no client ID set; a client will be registered at ${ciIdp.issuer}/ when needed.`) ? true : undefined,
    );
    assert.equal(announced('oidc.ci', CI), 1, `${CI} not announced again by the rebuilt provider`);
    assert.equal(announced('oidc', TOP), 1, `${TOP} not announced again`);
    assert.match(extensionLog(), /oidc\.ci: still serving the access token from OIDC_AUTH_CI_ACCESS_TOKEN \(announced before\)\./);
    await driver.updateSetting('issuer', w().issuer);
    const texts = await allNotifications();
    assert.ok(!texts.some((t) => t.includes('CI robot serves its token')), `no new announcement: ${JSON.stringify(texts)}`);
    assert.equal(texts.filter((t) => t.includes(`${TOP} is set`)).length, 1);
  });

  it('Show Status names the injected token as the session source, and no token', async function () {
    const text = await showStatusDocument(w(), 'CI robot', path.join(LOG_DIR, '3-show-status.png'));
    log(`status:\n${text}`);
    const top = text.slice(text.indexOf('## OpenID Connect (`oidc`)'), text.indexOf('## CI robot (`oidc.ci`)'));
    const ci = text.slice(text.indexOf('## CI robot (`oidc.ci`)'));
    assert.ok(top.includes(`- Issuer: ${w().issuer}/`), 'the top-level section');
    assert.ok(top.includes(`- Serving a token from the environment (Token from ${TOP}); never refreshed or stored.`), 'the top-level source');
    assert.ok(!top.includes('Not signed in.'), 'not "not signed in"');
    assert.ok(ci.includes(`- Serving a token from the environment (Token from ${CI}); never refreshed or stored.`), 'the named source');
    assert.ok(!text.includes(INJECTED) && !text.includes(INJECTED_CI), 'no token in the status');
  });

  it('another extension gets it only after VS Code asks, and then exactly the injected token', async function () {
    const { page, driver, context } = w();
    assert.equal(await driver.getSession(SCOPES, { silent: true }, 30_000), null, 'nothing without consent');
    const pending = settle(driver.getSession(SCOPES, { createIfNone: true }, 60_000));
    const asked = await Promise.race([
      waitForDialog(page, /wants to sign in using OpenID Connect/, 30_000),
      pending.then((outcome) => {
        throw new Error(`getSession settled before any dialog: ${outcome.ok ? `a session of ${(outcome.value as ReportedSession | null)?.account.label}` : outcome.error.message}`);
      }),
    ]);
    const said = (await asked.box.innerText()).replace(/\s+/g, ' ').trim();
    log(`consent: ${said} [${asked.buttons.join('|')}]`);
    assert.ok(said.includes(`The extension '${CONSUMER_NAME}' wants to sign in using OpenID Connect`), `the dialog names the extension: ${said}`);
    assert.ok(asked.buttons.includes('Allow'), `buttons: ${asked.buttons.join(', ')}`);
    await clickButtonIn(asked.box, 'Allow');
    const outcome = await settleChoosingAccount(page, pending, `Token from ${TOP}`, 30_000);
    assert.ok(outcome.ok, `getSession failed: ${outcome.ok ? '' : outcome.error.message}`);
    const session = outcome.value;
    assert.equal(session?.account.label, `Token from ${TOP}`);
    // (Compared without printing: a failed assert.equal would put the token in the output.)
    assert.ok(session.accessToken === INJECTED, 'exactly the injected token');
    assert.ok((await driver.getSession(SCOPES, { silent: true }, 30_000))?.accessToken === INJECTED, 'and again silently, now allowed');
    assert.equal(context.pages().length, 1, 'no sign-in page was opened');
  });

  it('the exported API gives the injected session its own token back and does not retry its 401', async function () {
    const { driver } = w();
    const plain = await driver.call<{ held: string; token: string }>('apiGetAccessToken', { scopes: SCOPES }, 30_000);
    assert.ok(plain.held === INJECTED && plain.token === INJECTED, 'getAccessToken: the injected token');
    const forced = await driver.call<{ held: string; token: string }>('apiGetAccessToken', { scopes: SCOPES, forceRefresh: true }, 30_000);
    assert.ok(forced.token === INJECTED, 'forceRefresh: the same token (it is never refreshed)');
    await assert.rejects(driver.call('apiWithAutoRefresh', { scopes: SCOPES }, 30_000), /HTTP 401 from the pretend API/);
  });

  it('no request reached either identity provider, and nothing was stored', function () {
    const { server } = w();
    assert.deepEqual(requests, [], 'no request at either IdP');
    const storage = path.join(server.userDataDir, 'User', 'globalStorage', 'oidc-auth.oidc-auth');
    const files = fs.existsSync(storage) ? fs.readdirSync(storage) : [];
    log(`global storage: ${JSON.stringify(files)}`);
    assert.ok(!files.includes('clients.json'), 'no identity provider recorded as having sessions');
    assert.deepEqual(files.filter((f) => /\.(state|key|lock)$/.test(f)), [], 'no session state');
  });
});
