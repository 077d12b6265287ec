/**
 * The kubectl proof of terminal access (issue 17): Debian's kubectl (package kubernetes-client,
 * made available by scripts/ensure-kubectl.sh) with a kubeconfig whose `exec` entry runs the
 * extension's `oidc-token` wrapper, against a small HTTPS API server that accepts only a valid
 * ID token of the test IdP (test/support/kubeApi.ts). After the ID token expires, the next
 * kubectl call gets a refreshed one with exactly one refresh at the IdP, also while a consumer
 * extension (the API's forceRefresh path) refreshes at the same moment.
 */
import * as assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { robotSignIn } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';
import { kubeconfig, startKubeApi, type KubeApi } from '../support/kubeApi';
import { closeWindows, noTokenIn, openWindow, refreshes, sleep, wrapperFolder, type Window } from '../support/terminalWindow';
import { makeTestCa, type TestCa } from '../support/testCa';

const root = path.resolve(__dirname, '../../..');

function kubectl(bin: string, config: string, w: Window, bins: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['--kubeconfig', config, 'get', '--raw', '/api'], { env: { ...w.env, PATH: `${bins}${path.delimiter}${process.env.PATH ?? ''}`, HOME: path.dirname(config) }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

function getApi(url: string, token: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${url}/api`, { headers: { authorization: `Bearer ${token}` }, ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('kubectl with an exec entry running oidc-token, against an OIDC-protected API server', function () {
  this.timeout(120_000);
  let idp: TestIdp;
  let ca: TestCa;
  let api: KubeApi;
  let bin: string;
  let dir: string;

  before(async function () {
    this.timeout(180_000);
    bin = execFileSync('bash', [path.join(root, 'scripts', 'ensure-kubectl.sh')], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    idp = await startTestIdp({ accessTokenTtl: 3600, idTokenTtl: 8, rotateRefreshToken: true });
    ca = makeTestCa();
    api = await startKubeApi({ issuer: idp.issuer, audience: idp.clientId, tls: ca.valid });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-kube-'));
  });
  after(async () => {
    await api?.close();
    await idp?.close();
    ca?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(closeWindows);

  it(`Debian's kubectl (v1beta1 exec) gets /api with the session's ID token; an expired one is renewed with one refresh, a consumer refreshing at the same moment`, async () => {
    const version = execFileSync(bin, ['version', '--client', '--short'], { encoding: 'utf8' });
    const w = await openWindow(idp);
    const session = await w.manager.createSession([], robotSignIn('kate'));
    const config = path.join(dir, 'kubeconfig');
    // kubectl 1.20 (Debian 12's) speaks v1beta1 only, and names it in KUBERNETES_EXEC_INFO: oidc-token answers in it.
    fs.writeFileSync(config, kubeconfig({ server: api.url, caFile: ca.caFile, execApiVersion: 'client.authentication.k8s.io/v1beta1' }));
    const bins = wrapperFolder();
    // The API server refuses what is not a valid ID token: the access token, a tampered ID token.
    assert.equal(await getApi(api.url, session.accessToken, ca.caPem), 401);
    assert.equal(await getApi(api.url, `${session.idToken!.slice(0, -4)}AAAA`, ca.caPem), 401);

    const first = await kubectl(bin, config, w, bins);
    assert.equal(first.code, 0, `kubectl ${version}: ${first.stderr}`);
    assert.equal((JSON.parse(first.stdout) as { kind: string }).kind, 'APIVersions');
    assert.equal(api.accepted.at(-1), session.idToken);
    assert.equal(refreshes(idp), 0, 'a valid ID token is used as it is');

    // The ID token (8 s) expires; the access token (1 h) does not.
    await sleep(session.idTokenExpiresAt! - Date.now() + 200);
    assert.equal(await getApi(api.url, session.idToken!, ca.caPem), 401, 'the API server refuses the expired ID token');
    const consumer = w.manager.freshSession(session.id, session.accessToken);
    const [second, consumed] = await Promise.all([kubectl(bin, config, w, bins), consumer]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(refreshes(idp), 1, 'exactly one refresh for kubectl and the consumer');
    assert.ok(idp.tokenCalls.every((c) => c.error !== 'invalid_grant'));
    const stored = (await w.manager.getSessionsWithoutRefresh())[0]!;
    assert.equal(api.accepted.at(-1), stored.idToken);
    assert.notEqual(stored.idToken, session.idToken);
    assert.equal(consumed?.accessToken, stored.accessToken);
    noTokenIn(w, first.stderr, second.stderr);
  });

  it('kubectl without a session: the exec plugin fails and kubectl shows oidc-token\'s message', async () => {
    const w = await openWindow(idp);
    const config = path.join(dir, 'kubeconfig-none');
    fs.writeFileSync(config, kubeconfig({ server: api.url, caFile: ca.caFile, execApiVersion: 'client.authentication.k8s.io/v1beta1', args: ['--format', 'exec-credential', '--api-version', 'v1beta1'] }));
    const r = await kubectl(bin, config, w, wrapperFolder());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Not signed in to OpenID Connect/);
  });
});
