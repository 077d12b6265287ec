/**
 * The facts a person acts on (the redirect URI to register, the refused scope, the tenant) travel
 * in typed fields of the error, never only in its text: with a translator that words every message
 * differently (and drops its arguments), the fields are still right, and the VS Code layer never
 * reads a message to find them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { OidcError, RedirectRefusedError, ScopeRejectedError, TenantRejectedError } from '../../src/core/errors';
import { setTranslator } from '../../src/core/l10n';
import { checkCallbackTenant, tenantOfIssuer } from '../../src/core/protocol/tenants';
import { robotSignIn, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';
import { rejection } from '../support/rejection';

const repoRoot = path.resolve(__dirname, '../../..');
/** Another language, as far as the code can tell: every message is new text without its arguments. */
const elsewhere = (message: string) => `[xx] ${message.replace(/\{\d+\}/g, '…').split(' ').reverse().join(' ')}`;

function config(idp: TestIdp, clientId: string, more: Partial<ProviderConfig> = {}): ProviderConfig {
  return { issuer: new URL(idp.issuer), clientId, scopes: ['openid', 'profile', 'email'], flow: 'loopback', loopbackPort: 0, ...more };
}

/** An IdP without PAR whose one client is a public native app with these fields. */
function idpWithClient(client: { client_id: string; redirect_uris: string[]; grant_types: string[]; scope?: string }): Promise<TestIdp> {
  return startTestIdp({
    par: false,
    clients: [{ application_type: 'native', token_endpoint_auth_method: 'none', response_types: ['code'], ...client }],
  });
}

describe('typed errors: the UI reads fields, never messages', () => {
  let idp: TestIdp | undefined;
  afterEach(async () => {
    setTranslator(undefined);
    await idp?.close();
    idp = undefined;
  });

  it('in another language, a refused redirect URI still names the URI in its field (Copy Redirect URI)', async () => {
    idp = await idpWithClient({ client_id: 'elsewhere', redirect_uris: ['http://127.0.0.1/elsewhere'], grant_types: ['authorization_code'] });
    setTranslator(elsewhere);
    const err = await rejection(testManager(config(idp, 'elsewhere')).createSession([], robotSignIn()));
    assert.ok(err instanceof RedirectRefusedError, String(err));
    assert.ok(err.message.startsWith('[xx]'), 'the message is the translated one');
    assert.ok(!err.message.includes('127.0.0.1'), 'and does not carry the URI');
    assert.match(err.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    assert.equal(err.setting, 'oidcAuth.flow');
    assert.equal(err.reason, 'redirectRefused');
  });

  it('in another language, a refused scope is still named in its field', async () => {
    idp = await idpWithClient({
      client_id: 'narrow',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email',
    });
    setTranslator(elsewhere);
    const err = await rejection(testManager(config(idp, 'narrow')).createSession(['openid', 'api.write'], robotSignIn()));
    assert.ok(err instanceof ScopeRejectedError, String(err));
    assert.deepEqual(err.scopes, ['api.write']);
    assert.equal(err.oauthError, 'invalid_scope');
    assert.ok(err.cause instanceof OidcError, 'the IdP answer it came from is its cause');
  });

  it('the tenant of a multi-tenant issuer: only the template\'s shape, and a callback from one tenant with an ID token of another is refused', () => {
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    const tid = '11111111-2222-4333-8444-555555555555';
    assert.equal(tenantOfIssuer(template, `https://login.microsoftonline.com/${tid}/v2.0`), tid);
    assert.equal(tenantOfIssuer(template, 'https://login.microsoftonline.com/v2.0'), undefined);
    assert.equal(tenantOfIssuer(template, 'https://login.microsoftonline.com/a/b/v2.0'), undefined, 'no slash in a tenant');
    assert.equal(tenantOfIssuer(template, `https://evil.example/${tid}/v2.0`), undefined);
    assert.equal(tenantOfIssuer('https://login.example.com/realm', 'https://login.example.com/realm'), undefined, 'no template');
    checkCallbackTenant(undefined, 'anything');
    checkCallbackTenant(`https://login.microsoftonline.com/${tid}/v2.0`, `https://login.microsoftonline.com/${tid}/v2.0`);
    assert.throws(
      () => checkCallbackTenant(`https://login.microsoftonline.com/${tid}/v2.0`, 'https://login.microsoftonline.com/99999999-8888-4777-8666-555555555555/v2.0'),
      (e: unknown) => e instanceof TenantRejectedError && e.reason === 'tenantRejected',
    );
  });

  it('src/vscode never searches an error message (regex, includes, startsWith) to decide what to offer', () => {
    const dir = path.join(repoRoot, 'src', 'vscode');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('ui.ts'), 'the scan reads ui.ts');
    const reading = /\.message\)?\s*\.\s*(match|matchAll|search|includes|startsWith|endsWith|indexOf)\s*\(|\.(test|exec)\s*\([^)]*\.message\b/;
    const found = files.flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .map((line, i) => ({ where: `${f}:${i + 1}`, line }))
        .filter(({ line }) => reading.test(line)),
    );
    assert.deepEqual(found, []);
    // The Copy Redirect URI action takes the URI from the typed field.
    assert.match(fs.readFileSync(path.join(dir, 'ui.ts'), 'utf8'), /instanceof RedirectRefusedError \? error\.redirectUri/);
  });
});
