/**
 * Secret hygiene of the e2e run (issue 5 item 5): a root-level after hook, so it runs once after
 * every e2e file, searches the logs the code-server windows wrote (each world's
 * `user-data/logs`: the extension's output channel, the extension host's, the server's) and the
 * copies the files collected into .test-logs/e2e, for every credential the test IdPs of this
 * process issued or received (test/support/tokenLedger.ts). One hit fails the run.
 * The extension logs at code-server's default level (info) here, not trace: code-server's `--log`
 * takes one level for the whole server, not one per extension.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesUnder, secretValues } from '../support/tokenLedger';
import { E2E_DIR, LOG_DIR } from './harness';

/** Each world's server logs: <E2E_DIR>/code-server*\/user-data/logs. */
function serverLogFiles(): string[] {
  if (!fs.existsSync(E2E_DIR)) return [];
  return fs
    .readdirSync(E2E_DIR)
    .filter((name) => name.startsWith('code-server'))
    .flatMap((name) => filesUnder(path.join(E2E_DIR, name, 'user-data', 'logs')));
}

after(function () {
  const secrets = secretValues();
  // Run alone (no world started), there is nothing to search for.
  if (secrets.length === 0) return;
  const files = [...serverLogFiles(), ...filesUnder(LOG_DIR)].filter((f) => !f.endsWith('.png'));
  const extensionLogs = files.filter((f) => f.includes('oidc-auth.oidc-auth') && f.endsWith('.log'));
  assert.ok(extensionLogs.length > 0, `the extension's log channel is among the ${files.length} log files`);
  assert.ok(
    extensionLogs.some((f) => /Signed in as /.test(fs.readFileSync(f, 'utf8'))),
    'the search reads what the extension logged (a sign-in)',
  );
  const hits: string[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    for (const secret of secrets) if (text.includes(secret)) hits.push(`${path.relative(E2E_DIR, file)} contains a credential`);
  }
  console.log(`  secret hygiene: ${files.length} log files searched for ${secrets.length} credential values, ${hits.length} hits`);
  if (hits.length) assert.fail(`a credential reached ${hits.length} log file(s):\n${[...new Set(hits)].join('\n')}`);
});
