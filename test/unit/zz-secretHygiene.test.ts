/**
 * Secret hygiene of the whole unit run (issue 5 item 5). Root-level hooks, so they cover every
 * file of the run whatever order mocha loads them in:
 *  - before everything, silentLogger (what most suites hand the core) starts recording every
 *    line at every level, trace included; the suites with their own logger use
 *    recordingLogger(), which records too;
 *  - after everything, every recorded line is searched for every credential the test IdPs
 *    issued or received (test/support/tokenLedger.ts): access and refresh tokens, codes, PKCE
 *    verifiers, device codes, client secrets. One hit fails the run.
 * The lines are searched as the core wrote them, before the output channel's redact(): the
 * core must not log a credential at all; redaction is only the second line of defence.
 * Not covered: windows.test.ts's window processes log to their own silentLogger.
 */
import * as assert from 'node:assert/strict';
import { silentLogger, type Logger } from '../../src/core/logger';
import { SERVICE_CLIENT } from '../support/idp';
import { loggedLines, recordLogLine, secretValues, setCurrentTest, trackSecrets, type LoggedLine } from '../support/tokenLedger';

const levels = ['trace', 'debug', 'info', 'warn', 'error'] as const;
const silent: Logger = { ...silentLogger };

/** Every (line, secret) pair where the line contains the secret; the secret itself is not repeated. */
function findLeaks(lines: readonly LoggedLine[], secrets: readonly string[]): string[] {
  const hits: string[] = [];
  for (const { test, line } of lines) {
    for (const secret of secrets) {
      if (line.includes(secret)) hits.push(`in "${test}": ${line.split(secret).join('<SECRET>').slice(0, 300)}`);
    }
  }
  return hits;
}

before(function () {
  // Sent as client_secret_basic, so no request parameter shows it.
  trackSecrets(() => [SERVICE_CLIENT.client_secret]);
  for (const level of levels) silentLogger[level] = recordLogLine;
});

beforeEach(function () {
  setCurrentTest(this.currentTest?.fullTitle() ?? '(unknown test)');
});

after(function () {
  for (const level of levels) silentLogger[level] = silent[level];
  const lines = loggedLines();
  const secrets = secretValues();
  const leaks = findLeaks(lines, secrets);
  // Visible in the run's output: how much was searched.
  console.log(`  secret hygiene: ${lines.length} log lines searched for ${secrets.length} credential values, ${leaks.length} hits`);
  if (leaks.length) assert.fail(`a credential reached ${leaks.length} log line(s):\n${leaks.slice(0, 20).join('\n')}`);
});

describe('secret hygiene of the unit run', () => {
  it('the search finds a credential in a line, and only there', () => {
    const secret = 'refresh-token-value-0123456789';
    const lines = [
      { test: 't1', line: 'Signed in as alice@example.test.' },
      { test: 't2', line: `Could not revoke: token ${secret} is not revocable` },
    ];
    assert.deepEqual(findLeaks(lines, [secret]), ['in "t2": Could not revoke: token <SECRET> is not revocable']);
  });

  it('silentLogger records every level while the run lasts', () => {
    const before = loggedLines().length;
    for (const level of levels) silentLogger[level](`hygiene self-check at ${level}`);
    assert.deepEqual(
      loggedLines().slice(before).map((l) => l.line),
      levels.map((level) => `hygiene self-check at ${level}`),
    );
  });
});
