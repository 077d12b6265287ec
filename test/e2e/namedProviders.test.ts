/**
 * Named providers and VS Code's MCP authorization, end to end in the VS Code web workbench
 * (code-server's entry.js + Chromium), with the packaged extension:
 * - both named providers appear in the Accounts menu with their labels ("Sign in with <label>");
 * - the provider with an injected token (OIDC_AUTH_CI_ACCESS_TOKEN in the server's environment)
 *   serves a session with no login;
 * - "OpenID Connect: Show Status" run from the palette lists providers and accounts, no token;
 * - VS Code's own MCP client, meeting an MCP server that answers 401 and names an authorization
 *   server in its protected-resource metadata (RFC 9728), gets its token from the provider whose
 *   issuer that is (and not from the other one), after the person allows it and signs in.
 * Screenshots and logs go to .test-logs/e2e-named/.
 *
 * One file of over 300 lines: its steps share one workbench with four named providers (a world
 * takes about a minute to start), the MCP steps build on the sign-ins before them, and the dialog
 * and MCP helpers at its end serve only it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/vscode/install';
import { sleep } from '../support/vscode/async';
import { SERVICE_CLIENT, startTestIdp, type TestIdp } from '../support/idp';
import { startMcpTestServer, type McpTestServer } from '../support/mcpServer';
import type { ReportedSession } from './driver';
import { CONSUMER_NAME, startWorld } from './harness';
import { suiteLog } from './log';
import { check, isIdpPage, openStatusDocument, stepwise } from './suite';
import {
  accountsMenuUntil,
  closeMenus,
  completeIdpLogin,
  escapeRegExp,
  openQuickPickItems,
  readQuickInput,
  runCommandFromPalette,
  settleChoosingAccount,
  typeIntoQuickInput,
  until,
  waitForTab,
} from './workbench';

const log = suiteLog('e2e-named');
const LOG_DIR = path.join(repoRoot, '.test-logs', 'e2e-named');
const INJECTED = 'injected-e2e-token-for-oidc-auth-named-providers';
const SCOPES = ['openid', 'profile', 'email'];

describe('named providers and MCP authorization in the VS Code web workbench', function () {
  this.timeout(180_000);
  this.slow(30_000);

  let alpha: TestIdp;
  let beta: TestIdp;
  const mcp: McpTestServer[] = [];

  const w = stepwise(
    LOG_DIR,
    log,
    async () => {
      [alpha, beta] = await Promise.all([startTestIdp(), startTestIdp()]);
      const world = await startWorld(log, {
        name: 'named',
        settings: {
          'oidcAuth.providers': [
            { id: 'alpha', label: 'Alpha IdP', issuer: alpha.issuer, clientId: alpha.clientId, flow: 'loopback' },
            // A trailing slash here and none in the MCP server's metadata: still the same server.
            { id: 'beta', label: 'Beta IdP', issuer: `${beta.issuer}/`, clientId: beta.clientId, flow: 'loopback' },
            { id: 'ci', label: 'CI token', issuer: 'https://ci.idp.invalid', clientId: 'ci' },
            { id: 'svc', label: 'Robot', issuer: alpha.issuer, clientId: SERVICE_CLIENT.client_id, grant: 'clientCredentials' },
          ],
          // MCP servers are part of VS Code's chat features, which the quiet defaults turn off.
          'chat.disableAIFeatures': false,
          'chat.mcp.autostart': 'never',
        },
        env: { OIDC_AUTH_CI_ACCESS_TOKEN: INJECTED },
      });
      log(`alpha ${alpha.issuer}, beta ${beta.issuer}, top-level ${world.issuer}`);
      return world;
    },
    { cleanup: () => Promise.all([...mcp.map((m) => m.close()), alpha?.close(), beta?.close()]) },
  );

  check('both named providers appear in the Accounts menu as "Sign in with <label>"', async function () {
    const { page, driver } = w();
    // As any extension does: ask without createIfNone; VS Code then offers sign-in in the menu.
    for (const providerId of ['oidc.alpha', 'oidc.beta']) {
      assert.equal(await driver.call('getSession', { providerId, scopes: SCOPES, options: {} }, 30_000), null, `${providerId}: no session yet`);
    }
    const wanted = ['Alpha IdP', 'Beta IdP'].map((label) => new RegExp(`^Sign in with ${escapeRegExp(label)} to use ${escapeRegExp(CONSUMER_NAME)}`));
    const labels = await accountsMenuUntil(page, (l) => wanted.every((re) => l.some((x) => re.test(x))), 20_000);
    await page.screenshot({ path: path.join(LOG_DIR, '1-accounts-menu-named.png') });
    await closeMenus(page);
    log(`Accounts menu: ${JSON.stringify(labels)}`);
    for (const re of wanted) assert.ok(labels.some((l) => re.test(l)), `no item matching ${re}: ${JSON.stringify(labels)}`);
  });

  check('the provider with an injected token serves its session with no login, and shows it in the Accounts menu', async function () {
    const { page, driver } = w();
    const accounts = await driver.call<{ label: string }[]>('getAccounts', { providerId: 'oidc.ci' }, 15_000);
    assert.deepEqual(accounts.map((a) => a.label), ['Token from OIDC_AUTH_CI_ACCESS_TOKEN']);
    const labels = await accountsMenuUntil(page, (l) => l.some((x) => x.includes('Token from OIDC_AUTH_CI_ACCESS_TOKEN')), 15_000);
    await page.screenshot({ path: path.join(LOG_DIR, '2-accounts-menu-injected.png') });
    await closeMenus(page);
    assert.ok(labels.some((l) => l.includes('Token from OIDC_AUTH_CI_ACCESS_TOKEN')), `Accounts menu: ${JSON.stringify(labels)}`);
    // The consumer's own request: the person allows it once; the token is the injected one.
    const pending = driver.call<ReportedSession | null>('getSession', { providerId: 'oidc.ci', scopes: [], options: { createIfNone: true } }, 60_000);
    pending.catch(() => undefined);
    await answerDialogs(page, /CI token/, 'Allow', 30_000);
    const session = await settleChoosingAccount(page, pending, 'Token from OIDC_AUTH_CI_ACCESS_TOKEN', 30_000);
    assert.equal(session?.accessToken, INJECTED);
    assert.equal(tabsAtIdps(), 0, 'no sign-in page was opened');
  });

  let mcpToken: string | undefined;

  it("VS Code's MCP client gets its token from the provider whose issuer the MCP server names", async function () {
    const { server } = w();
    const scopes = ['openid', 'profile', 'email'];
    const alphaServer = await startMcpTestServer({
      authorizationServer: alpha.issuer,
      scopes,
      accepts: async (token) => (await alpha.introspect(token)).active === true,
    });
    mcp.push(alphaServer);
    writeUserMcpJson(server.userDataDir, { 'alpha-api': alphaServer.url });
    const alphaCodes = codeGrants(alpha);
    const betaCodes = codeGrants(beta);

    // As a person does: "MCP: List Servers", the server, "Start Server".
    await startServerAndSignIn('alpha-api', 'Alpha IdP', alpha, 'mallory');
    await until('the MCP server to accept a token', 60_000, () => (alphaServer.accepted.length ? true : undefined));
    mcpToken = alphaServer.accepted[0]!;
    assert.ok(alphaServer.metadataRequests > 0, 'VS Code read the protected-resource metadata');
    const introspection = await alpha.introspect(mcpToken);
    assert.equal(introspection.active, true);
    assert.equal(introspection.client_id, alpha.clientId, 'a token for the Alpha provider\'s client');
    assert.equal(codeGrants(alpha), alphaCodes + 1, 'one sign-in at Alpha');
    assert.equal(codeGrants(beta), betaCodes, 'nothing at Beta');
    await until('the MCP handshake', 30_000, () => (alphaServer.methods.includes('tools/list') ? true : undefined));
    log(`MCP methods served: ${alphaServer.methods.join(', ')}`);
    const accounts = await w().driver.call<{ label: string }[]>('getAccounts', { providerId: 'oidc.alpha' }, 15_000);
    assert.deepEqual(accounts.map((a) => a.label), ['mallory@example.test'], 'the session is the Alpha provider\'s');
  });

  check('a second MCP server naming the other issuer (without the trailing slash configured) gets the other provider\'s token', async function () {
    const { server } = w();
    const betaServer = await startMcpTestServer({
      authorizationServer: beta.issuer,
      scopes: SCOPES,
      accepts: async (token) => (await beta.introspect(token)).active === true,
    });
    mcp.push(betaServer);
    writeUserMcpJson(server.userDataDir, { 'alpha-api': mcp[0]!.url, 'beta-api': betaServer.url });
    const alphaCodes = codeGrants(alpha);
    await startServerAndSignIn('beta-api', 'Beta IdP', beta, 'trudy');
    await until('the beta MCP server to accept a token', 60_000, () => (betaServer.accepted.length ? true : undefined));
    assert.equal((await beta.introspect(betaServer.accepted[0]!)).active, true);
    assert.equal(codeGrants(alpha), alphaCodes, 'nothing more at Alpha');
    assert.ok(!betaServer.presented.some((t) => mcp[0]!.accepted.includes(t)), "Alpha's token never reached the Beta server");
    const accounts = await w().driver.call<{ label: string }[]>('getAccounts', { providerId: 'oidc.beta' }, 15_000);
    assert.deepEqual(accounts.map((a) => a.label), ['trudy@example.test']);
  });

  check('through the extension API, a matching authorizationServer (another spelling) gets the session; another server is declined', async function () {
    const { page, driver } = w();
    // Another spelling of Alpha's issuer (with a trailing slash): the same server.
    const matching = driver.call<ReportedSession | null>(
      'getSession',
      { providerId: 'oidc.alpha', scopes: SCOPES, options: { createIfNone: true, authorizationServer: `${alpha.issuer}/` } },
      60_000,
    );
    matching.catch(() => undefined);
    await firstDialogOrOutcome(page, matching);
    const session = await settleChoosingAccount(page, matching, 'mallory@example.test', 30_000);
    assert.equal(session?.account.label, 'mallory@example.test');

    const alphaCodes = codeGrants(alpha);
    // VS Code 1.139 checks the server against what the provider registered before asking it (the
    // provider's own check is the second line, for VS Code versions and callers that do not).
    await assert.rejects(
      driver.call('getSession', { providerId: 'oidc.alpha', scopes: SCOPES, options: { createIfNone: true, authorizationServer: beta.issuer } }, 60_000),
      (err: Error) => {
        log(`declined: ${err.message}`);
        assert.match(err.message, /oidc\.alpha/);
        assert.ok(err.message.includes(beta.issuer), err.message);
        return true;
      },
    );
    assert.equal(codeGrants(alpha), alphaCodes, 'no sign-in was started');
    assert.equal(tabsAtIdps(), 0, 'no sign-in page was opened');
  });

  check('"OpenID Connect: Show Status" from the palette lists the providers and accounts, and no token', async function () {
    const { page } = w();
    const text = await openStatusDocument(w(), 'Alpha IdP');
    await page.screenshot({ path: path.join(LOG_DIR, '4-show-status.png') });
    // The editor renders spaces as U+00A0.
    const visible = (await page.locator('.part.editor .view-lines').first().innerText({ timeout: 5000 })).replace(/\u00a0/g, ' ');
    assert.match(visible, /Alpha IdP/, 'the status is on screen');
    for (const expected of ['Alpha IdP', 'Beta IdP', 'CI token', alpha.issuer, 'OIDC_AUTH_CI_ACCESS_TOKEN', ...(mcpToken ? ['mallory@example.test'] : [])]) {
      assert.ok(text.includes(expected), `the status names ${expected}`);
    }
    for (const token of [INJECTED, ...mcp.flatMap((m) => m.accepted)]) assert.ok(!text.includes(token), 'no token in the status');
  });

  check('a service account ("grant": "clientCredentials"): the secret is asked once in a password box, kept out of settings, and its token cached', async function () {
    const { page, driver, server } = w();
    const grants = () => alpha.tokenCalls.filter((c) => c.grantType === 'client_credentials' && c.status === 200).length;
    const before = grants();
    const pending = driver.call<ReportedSession | null>('getSession', { providerId: 'oidc.svc', scopes: [], options: { createIfNone: true } }, 90_000);
    pending.catch(() => undefined);
    await answerDialogs(page, /Robot/, 'Allow', 30_000);
    const box = await readQuickInput(page, 15_000);
    log(`service account box: ${JSON.stringify(box.title)} ${JSON.stringify(box.message)}`);
    assert.match(box.title, /Service account for Robot/);
    assert.equal(await page.locator('.quick-input-widget .quick-input-box input').first().getAttribute('type'), 'password', 'a password box');
    await typeIntoQuickInput(page, SERVICE_CLIENT.client_secret);
    await page.keyboard.press('Enter');
    const session = await settleChoosingAccount(page, pending, `${SERVICE_CLIENT.client_id} (service account)`, 30_000);
    await page.screenshot({ path: path.join(LOG_DIR, '5-service-account.png') });
    assert.equal(session?.account.label, `${SERVICE_CLIENT.client_id} (service account)`);
    assert.equal((await alpha.introspect(session.accessToken)).active, true, 'a token the IdP issued');
    assert.equal(grants(), before + 1, 'one client_credentials grant');
    // Asked again: the cached token, no second grant, no box.
    const again = await driver.call<ReportedSession | null>('getSession', { providerId: 'oidc.svc', scopes: [], options: { silent: true } }, 30_000);
    // (Compared without printing: a failed assert.equal would put both tokens in the test output.)
    assert.ok(again?.accessToken === session.accessToken, 'the same token as before');
    assert.equal(grants(), before + 1, 'the token was cached');
    const settings = fs.readFileSync(path.join(server.userDataDir, 'User', 'settings.json'), 'utf8');
    assert.ok(!settings.includes(SERVICE_CLIENT.client_secret), 'the secret is not in settings.json');
    assert.equal(tabsAtIdps(), 0, 'no sign-in page was opened');
  });

  function codeGrants(idp: TestIdp): number {
    return idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === 200).length;
  }

  function isAt(url: string, idp: TestIdp): boolean {
    return isIdpPage(url, idp.port);
  }

  /**
   * "MCP: List Servers" → `name` → "Start Server"; allows what VS Code asks until it asks to sign in
   * with `label` (which it must); `login` signs in at `idp` in the tab that opens.
   */
  async function startServerAndSignIn(name: string, label: string, idp: TestIdp, login: string): Promise<void> {
    const { page, context } = w();
    await startServerFromPalette(page, name);
    const asked = await answerDialogs(page, new RegExp(`${escapeRegExp(name)}|${escapeRegExp(label)}`), 'Allow', 60_000);
    log(`MCP dialogs: ${JSON.stringify(asked)}`);
    assert.ok(asked.some((t) => t.includes(label)), `VS Code asked to sign in with ${label}: ${JSON.stringify(asked)}`);
    const tab = await waitForTab(context, (url) => isAt(url, idp), 30_000);
    const result = await completeIdpLogin(tab, login, isLoopbackCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ')}; "${result.title}"`);
    await tab.close();
  }

  function tabsAtIdps(): number {
    return w().context.pages().filter((p) => isAt(p.url(), alpha) || isAt(p.url(), beta)).length;
  }

  function isLoopbackCallback(url: URL): boolean {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.pathname === '/callback' && ![alpha.port, beta.port].includes(Number(url.port));
  }
});

/**
 * Answers VS Code's modal dialogs (trust an MCP server, allow a sign-in) with `button` until one
 * whose text matches `until` was answered; returns every dialog's text.
 */
async function answerDialogs(page: import('playwright-core').Page, until: RegExp, button: string, timeoutMs: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no dialog matching ${until} within ${timeoutMs / 1000} s; saw ${JSON.stringify(seen)}`);
    const box = page.locator('.monaco-dialog-box').first();
    if (!(await box.isVisible().catch(() => false))) {
      await sleep(250);
      continue;
    }
    const text = (await box.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    const buttons = (await box.locator('.dialog-buttons .monaco-button').allInnerTexts()).map((b) => b.trim());
    seen.push(`${text} [${buttons.join('|')}]`);
    const choice = buttons.find((b) => b === button) ?? buttons.find((b) => /^(Allow|Trust|Continue|Yes)/.test(b));
    if (!choice) throw new Error(`a dialog without an accepting button: ${text} [${buttons.join('|')}]`);
    await box.locator('.dialog-buttons .monaco-button').filter({ hasText: new RegExp(`^${escapeRegExp(choice)}$`) }).first().click({ timeout: 5000 });
    await box.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
    if (until.test(text)) return seen;
  }
}

/** Answers the "wants to sign in using Alpha IdP" dialog; fails at once if `pending` settles first. */
async function firstDialogOrOutcome(page: import('playwright-core').Page, pending: Promise<unknown>): Promise<void> {
  const early = pending.then(
    (value) => Promise.reject(new Error(`resolved before any dialog: ${JSON.stringify(value)}`)),
    (err: unknown) => Promise.reject(new Error(`rejected before any dialog: ${err instanceof Error ? err.message : String(err)}`)),
  );
  await Promise.race([answerDialogs(page, /Alpha IdP/, 'Allow', 30_000), early]);
}

/** "MCP: List Servers" → the server → "Start Server", through the quick picks. */
async function startServerFromPalette(page: import('playwright-core').Page, name: string): Promise<void> {
  await runCommandFromPalette(page, 'MCP: List Servers');
  const widget = page.locator('.quick-input-widget');
  const row = widget.locator('.monaco-list-row').filter({ hasText: name }).first();
  await row.waitFor({ state: 'visible', timeout: 20_000 }).catch(async (err: unknown) => {
    throw new Error(`"${name}" is not among the MCP servers ${JSON.stringify(await openQuickPickItems(page))}: ${String(err)}`);
  });
  await row.click({ timeout: 5000 });
  const start = widget.locator('.monaco-list-row').filter({ hasText: /^\s*Start Server/ }).first();
  await start.waitFor({ state: 'visible', timeout: 10_000 }).catch(async (err: unknown) => {
    throw new Error(`no "Start Server" for ${name} among ${JSON.stringify(await openQuickPickItems(page))}: ${String(err)}`);
  });
  await start.click({ timeout: 5000 });
}

/** Writes the user's mcp.json (VS Code watches it) with HTTP servers by name. */
function writeUserMcpJson(userDataDir: string, servers: Record<string, string>): void {
  const file = path.join(userDataDir, 'User', 'mcp.json');
  const config = { servers: Object.fromEntries(Object.entries(servers).map(([name, url]) => [name, { type: 'http', url }])) };
  fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
}
