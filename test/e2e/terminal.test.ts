/**
 * Terminal access (issue 17) end to end, in the real VS Code web workbench (code-server +
 * Chromium) with the packaged extension: a person opens an integrated terminal and types
 * `oidc-token --sign-in`, signs in in the browser; the window asks once (a modal: Allow), the
 * tool prints the token; the next run does not ask; ten runs at once after the access token
 * expired cost at most one refresh; Debian's kubectl, its kubeconfig's exec entry running
 * oidc-token, reads /api from an HTTPS server that accepts only a valid ID token, also after that
 * ID token expired; Show Status lists the grant and takes it back, after which the tool asks
 * again and a refusal ends it with exit code 6. Logs and screenshots go to .test-logs/e2e/terminal/.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { sleep } from '../support/vscode/async';
import { kubeconfig, startKubeApi } from '../support/kubeApi';
import { makeTestCa } from '../support/testCa';
import { LOG_DIR, startWorld } from './harness';
import { suiteLog } from './log';
import { EMAIL, LOGIN, filesContaining, openStatusDocument, stepwise } from './suite';
import { clickButtonIn, completeIdpLogin, dialog, runCommandFromPalette, until, waitForDialog, waitForTab, clickToastButton, waitForToast } from './workbench';

const ARTIFACTS = path.join(LOG_DIR, 'terminal');
const repoRoot = path.resolve(__dirname, '../../..');
const CONSENT = /Allow command-line tools in this window's terminals to use your OpenID Connect session\?/;
const log = suiteLog('terminal');

describe('oidc-token in the integrated terminal of the VS Code web workbench: consent, token, one refresh, take back', function () {
  this.timeout(120_000);
  this.slow(30_000);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-e2e-term-'));
  let run = 0;
  const w = stepwise(
    ARTIFACTS,
    log,
    async () => {
      const world = await startWorld(log, { name: 'terminal', idp: { par: false, accessTokenTtl: 15, idTokenTtl: 20, rotateRefreshToken: true } });
      log(`issuer ${world.issuer} (${world.mode})`);
      return world;
    },
    {
      cleanup: (world) => {
        fs.rmSync(dir, { recursive: true, force: true });
        // No token reached a log of the server or of VS Code (output channels, extension hosts), as copied here.
        const tokens = world ? world.idp.issued.flatMap((t) => [t.accessToken, t.refreshToken ?? '']).filter((t) => t.length >= 8) : [];
        assert.deepEqual(filesContaining(ARTIFACTS, ...tokens), [], `no token in any log (${tokens.length} tokens looked for)`);
      },
    },
  );
  const refreshes = () => w().idp.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.status === 200).length;

  /** Types `command` into the terminal (stdout, stderr and exit code to files); returns a reader of its result. */
  async function type(command: string): Promise<() => Promise<{ code: number; stdout: string; stderr: string }>> {
    const n = ++run;
    const [out, err, rc] = ['out', 'err', 'rc'].map((f) => path.join(dir, `${f}${n}`));
    const { page } = w();
    await page.locator('.terminal-wrapper.active .xterm, .terminal .xterm').first().click({ timeout: 10_000 });
    await page.keyboard.type(`${command} >${out} 2>${err}; echo $? >${rc}.tmp; mv ${rc}.tmp ${rc}`, { delay: 2 });
    await page.keyboard.press('Enter');
    return async () => {
      const code = await until(`the exit code of "${command}"`, 60_000, () => (fs.existsSync(rc!) ? Number(fs.readFileSync(rc!, 'utf8').trim()) : undefined));
      return { code, stdout: fs.readFileSync(out!, 'utf8'), stderr: fs.readFileSync(err!, 'utf8') };
    };
  }

  it('1. signed out, a terminal runs oidc-token --sign-in: the usual sign-in in the browser, then the window asks once (modal), Allow, the token is printed', async function () {
    const { page, context } = w();
    await runCommandFromPalette(page, 'Terminal: Create New Terminal');
    await page.locator('.xterm').first().waitFor({ state: 'visible', timeout: 20_000 });
    await sleep(1500); // the shell's first prompt
    const result = await type('oidc-token --sign-in --format exec-credential');
    const tab = await waitForTab(context, (url) => url.includes(String(w().idp.port)), 30_000);
    await page.bringToFront();
    await completeIdpLogin(tab, LOGIN, (u) => u.pathname === '/callback' && Number(u.port) !== w().idp.port && Number(u.port) !== w().server.port, 60_000);
    await tab.close();
    const consent = await waitForDialog(page, CONSENT, 30_000);
    log(`dialog: ${JSON.stringify(consent)}`);
    assert.ok(consent.detail.includes(EMAIL), consent.detail);
    await page.screenshot({ path: path.join(ARTIFACTS, '1-consent.png') });
    await clickButtonIn(consent.box, 'Allow');
    const r = await result();
    assert.equal(r.code, 0, r.stderr);
    const credential = JSON.parse(r.stdout) as { apiVersion: string; status: { token: string; expirationTimestamp: string } };
    assert.equal(credential.apiVersion, 'client.authentication.k8s.io/v1');
    const claims = JSON.parse(Buffer.from(credential.status.token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.equal(claims.iss, w().idp.issuer);
    assert.equal(claims.sub, 'alice');
  });

  it('2. the next run does not ask; the access token it prints is the one the IdP issued last', async function () {
    const r = await (await type('oidc-token'))();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), w().idp.issued.at(-1)!.accessToken);
    assert.equal(await dialog(w().page).isVisible(), false, 'no dialog');
  });

  it('3. after the access token expired, ten runs at once: at most one refresh for all of them, one new token, no refresh token spent twice', async function () {
    const before = refreshes();
    const started = Date.now();
    await sleep(16_000);
    // The window's proactive timer renews the token shortly before it expires (the unit suite,
    // with that timer off, proves the runs alone cost exactly one refresh): count both.
    const atRuns = refreshes();
    const r = await (await type('for i in 1 2 3 4 5 6 7 8 9 10; do oidc-token >' + path.join(dir, 'par$i') + ' & done; wait'))();
    assert.equal(r.code, 0, r.stderr);
    const tokens = new Set(Array.from({ length: 10 }, (_, i) => fs.readFileSync(path.join(dir, `par${i + 1}`), 'utf8').trim()));
    log(`refresh grants at ${w().idp.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.at >= started).map((c) => `${c.at - started} ms (${c.status})`).join(', ')}; ${refreshes() - atRuns} during the runs`);
    assert.ok(refreshes() - atRuns <= 1, 'at most one refresh for the ten runs');
    assert.ok(refreshes() - before >= 1 && refreshes() - before <= 2, `${refreshes() - before} refreshes in 16 s of 15 s tokens`);
    assert.ok(w().idp.tokenCalls.every((c) => c.error !== 'invalid_grant'), 'no refresh token spent twice');
    assert.deepEqual([...tokens], [w().idp.issued.at(-1)!.accessToken], 'one token, the newest');
  });

  it("4. Debian's kubectl in the terminal, its kubeconfig's exec entry running oidc-token, gets /api from a server accepting only a valid ID token, before and after that ID token expired", async function () {
    const kubectl = execFileSync('bash', [path.join(repoRoot, 'scripts', 'ensure-kubectl.sh')], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    const ca = makeTestCa();
    const api = await startKubeApi({ issuer: w().idp.issuer, audience: w().idp.clientId, tls: ca.valid });
    try {
      const config = path.join(dir, 'kubeconfig');
      fs.writeFileSync(config, kubeconfig({ server: api.url, caFile: ca.caFile, execApiVersion: 'client.authentication.k8s.io/v1beta1' }));
      const first = await (await type(`${kubectl} --kubeconfig ${config} get --raw /api`))();
      assert.equal(first.code, 0, first.stderr);
      assert.equal((JSON.parse(first.stdout) as { kind: string }).kind, 'APIVersions');
      const used = api.accepted.at(-1)!;
      const exp = (JSON.parse(Buffer.from(used.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp * 1000;
      await sleep(Math.max(0, exp - Date.now() + 500));
      const before = refreshes();
      const second = await (await type(`${kubectl} --kubeconfig ${config} get --raw /api`))();
      assert.equal(second.code, 0, second.stderr);
      assert.notEqual(api.accepted.at(-1), used, 'a newer ID token');
      assert.ok(refreshes() - before <= 1, 'at most one refresh for the call');
      assert.ok(w().idp.tokenCalls.every((c) => c.error !== 'invalid_grant'));
      log(`kube API: ${api.accepted.length} accepted, refused: ${JSON.stringify(api.refused)}`);
    } finally {
      await api.close();
      ca.remove();
    }
  });

  it('5. Show Status lists the grant and takes it back; the next run asks again, and a refusal ends it with exit code 6', async function () {
    const { page } = w();
    const text = await openStatusDocument(w(), 'Command-line tools in the terminal');
    assert.match(text, /OpenID Connect \(`oidc`\): \*\*alice@example\.test\*\*, allowed/);
    await waitForToast(page, /Command-line tools in the terminal may use 1 session/, 15_000);
    await clickToastButton(page, /Command-line tools in the terminal may use 1 session/, 'Take Back Terminal Access…');
    const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'alice@example.test' }).first();
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await row.click({ timeout: 5000 });
    await page.locator('.quick-input-widget').getByText('1 Selected').waitFor({ state: 'visible', timeout: 5000 });
    await page.locator('.quick-input-widget .monaco-button').filter({ hasText: /^OK$/ }).first().click({ timeout: 5000 });
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
    const result = await type('oidc-token');
    const consent = await waitForDialog(page, CONSENT, 30_000);
    log(`buttons: ${JSON.stringify(consent.buttons)}`);
    await clickButtonIn(consent.box, consent.buttons.find((b) => b !== 'Allow') ?? 'Cancel');
    const r = await result();
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /^oidc-token: Command-line tools may not use the OpenID Connect session of alice@example\.test/);
    assert.equal(r.stdout, '');
  });
});
