/**
 * Terminal access (issue 17) in a real VS Code: an integrated terminal of the window finds
 * `oidc-token` on its PATH and the window's channel in its environment (put there through the
 * extension's environmentVariableCollection), and runs it with VS Code's own Node. VS Code refuses
 * the consent dialog in test mode, which is a denied consent: the tool exits 6 with the message,
 * and prints no token. (Clicking Allow is the e2e suite's, test/e2e/terminal.test.ts.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { issuedTokenValues } from '../support/tokenLedger';
import { accountLabels, readySuite, signInAs } from '../support/vscodeSuite';

const config = () => vscode.workspace.getConfiguration('oidcAuth');

async function configure(idp: TestIdp | undefined): Promise<void> {
  await config().update('issuer', idp?.issuer, vscode.ConfigurationTarget.Global);
  await config().update('clientId', idp?.clientId, vscode.ConfigurationTarget.Global);
  await config().update('flow', idp ? 'loopback' : undefined, vscode.ConfigurationTarget.Global);
}

/** Runs `script` with /bin/sh in a new integrated terminal; resolves with its exit code, stdout and stderr. */
async function inTerminal(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-term-it-'));
  const out = path.join(dir, 'out');
  const err = path.join(dir, 'err');
  const terminal = vscode.window.createTerminal({ name: 'oidc-token test', shellPath: '/bin/sh', shellArgs: ['-c', `${script} >'${out}' 2>'${err}'`] });
  const code = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the terminal did not exit')), 30_000);
    const sub = vscode.window.onDidCloseTerminal((t) => {
      if (t !== terminal) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(t.exitStatus?.code ?? -1);
    });
  });
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const result = { code, stdout: read(out), stderr: read(err) };
  fs.rmSync(dir, { recursive: true, force: true });
  return result;
}

describe('oidc-token in the integrated terminal of a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;

  before(async function () {
    idp = await readySuite();
    await configure(idp);
  });

  after(async () => {
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer });
    await configure(undefined);
    await idp.close();
  });

  it('signed out: oidc-token is on the PATH, reaches the window and says it is not signed in (exit 3)', async () => {
    const r = await inTerminal('oidc-token');
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /^oidc-token: Not signed in to OpenID Connect in this window/);
    assert.equal(r.stdout, '');
  });

  it('--provider names an oidcAuth.providers entry (with or without "oidc."), and an unknown one exits 4', async () => {
    const other = await startTestIdp();
    try {
      await config().update('providers', [{ id: 'work', label: 'Work IdP', issuer: other.issuer, clientId: other.clientId, flow: 'loopback' }], vscode.ConfigurationTarget.Global);
      const r = await inTerminal('oidc-token --provider work');
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /^oidc-token: Not signed in to Work IdP in this window/);
      assert.equal((await inTerminal('oidc-token --provider oidc.work')).code, 3);
      const unknown = await inTerminal('oidc-token --provider nowhere');
      assert.equal(unknown.code, 4, unknown.stderr);
      assert.match(unknown.stderr, /no authentication provider "oidc\.nowhere"/);
    } finally {
      await config().update('providers', undefined, vscode.ConfigurationTarget.Global);
      await other.close();
    }
  });

  it('a wrong secret in the environment is refused (exit 7); so is no channel at all', async () => {
    const wrong = await inTerminal('OIDC_AUTH_IPC_SECRET=wrong oidc-token');
    assert.equal(wrong.code, 7, wrong.stderr);
    assert.match(wrong.stderr, /does not carry this window's secret/);
    const none = await inTerminal('env -u OIDC_AUTH_IPC oidc-token');
    assert.equal(none.code, 7, none.stderr);
    assert.match(none.stderr, /not in a VS Code integrated terminal/);
  });

  it('signed in, the consent dialog refused (as VS Code does in tests): exit 6, a message, no token', async () => {
    await signInAs('alice');
    assert.deepEqual(await accountLabels(), ['alice@example.test']);
    const r = await inTerminal('oidc-token --format exec-credential');
    assert.equal(r.code, 6, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /^oidc-token: Command-line tools may not use the OpenID Connect session of alice@example\.test/);
    assert.equal(r.stdout, '');
    for (const token of issuedTokenValues()) assert.ok(!r.stderr.includes(token));
    const help = await inTerminal('oidc-token --help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: oidc-token/);
  });
});
