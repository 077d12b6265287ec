/**
 * Runs last (files run in name order): searches every log this VS Code wrote so far — the
 * extension's own output channel at trace level, the extension host's, the server's — for every
 * token the test IdPs issued, and every code, verifier, device code and client secret that
 * reached them. None may appear.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesUnder, issuedTokenValues, secretValues } from '../support/tokenLedger';

describe('secret hygiene of the whole run', () => {
  it('no issued token, code, verifier or secret appears in any log', async function () {
    const logs = process.env.OIDC_TEST_VSCODE_LOGS;
    if (!logs) throw new Error('OIDC_TEST_VSCODE_LOGS is not set, so there are no logs to search (the code-server target sets it). Not searched, so it fails.');
    assert.ok(issuedTokenValues().length >= 2, 'the suites signed in, so there are tokens to look for');
    const tokens = [...new Set([...issuedTokenValues(), ...secretValues()])];
    const injected = process.env.OIDC_AUTH_CI_ACCESS_TOKEN;
    if (injected) tokens.push(injected);
    // Output channels are written asynchronously; give the last lines a moment to land.
    await new Promise((r) => setTimeout(r, 1500));
    const files = filesUnder(logs);
    const extensionLog = files.find((f) => f.includes('oidc-auth.oidc-auth') && f.endsWith('.log'));
    assert.ok(extensionLog, `the extension's log channel is among the logs (${files.length} files)`);
    const extensionText = fs.readFileSync(extensionLog, 'utf8');
    assert.match(extensionText, /Signed in as alice@example\.test/, 'the search reads what the extension logged');
    const hits: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      for (const token of tokens) if (text.includes(token)) hits.push(`${path.relative(logs, file)} contains a token`);
    }
    assert.deepEqual(hits, []);
  });
});
