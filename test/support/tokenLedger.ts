/**
 * Every credential the test IdPs of one test process handed out or received (tokens, codes,
 * verifiers, device codes, client secrets) and every line the core logged, so a last check can
 * search the run's logs for them. startTestIdp and startHostileIdp register their IdPs; the unit
 * run records its log lines through recordingLogger() and the patched silentLogger
 * (test/unit/zz-secretHygiene.test.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../src/core/logger';
import type { TestIdp } from './idp';

/** Parameters of requests to a test IdP that carry a credential. */
const SECRET_PARAMS = ['code', 'code_verifier', 'refresh_token', 'device_code', 'client_secret', 'token'];

const sources = new Set<() => Iterable<string>>();
const trackedIdps = new Set<TestIdp>();

/** Registers an oidc-provider test IdP: what it issued, and the credentials sent to it. */
export function trackIssuedTokens(idp: TestIdp): void {
  if (trackedIdps.has(idp)) return;
  trackedIdps.add(idp);
  sources.add(function* () {
    for (const t of idp.issued) {
      yield t.accessToken;
      if (t.refreshToken) yield t.refreshToken;
    }
    for (const r of idp.requests) for (const p of SECRET_PARAMS) if (r.params[p]) yield r.params[p];
  });
}

/** Registers any other source of secret values (the hostile IdP's codes and tokens, a client secret). */
export function trackSecrets(values: () => Iterable<string>): void {
  sources.add(values);
}

/** Access and refresh tokens the tracked oidc-provider IdPs issued (the integration run's check). */
export function issuedTokenValues(): string[] {
  const values = new Set<string>();
  for (const idp of trackedIdps) {
    for (const t of idp.issued) {
      values.add(t.accessToken);
      if (t.refreshToken) values.add(t.refreshToken);
    }
  }
  return [...values];
}

/**
 * Every secret value from every source. Values shorter than 8 characters are left out: they
 * would match ordinary text (and no credential is that short).
 */
export function secretValues(): string[] {
  const values = new Set<string>();
  for (const source of sources) for (const v of source()) if (v.length >= 8) values.add(v);
  return [...values];
}

export interface LoggedLine {
  /** The test that was running when the line was logged. */
  test: string;
  line: string;
}

const logged: LoggedLine[] = [];
let currentTest = '(outside a test)';

export function setCurrentTest(title: string): void {
  currentTest = title;
}

/** Keeps a line the core logged, at any level, for the run's final search. */
export function recordLogLine(line: string): void {
  logged.push({ test: currentTest, line });
}

export function loggedLines(): readonly LoggedLine[] {
  return logged;
}

/** A Logger at trace level that keeps every line in `lines` (for the test's own checks) and in the run's record. */
export function recordingLogger(lines: string[] = []): Logger {
  const keep = (m: string) => {
    lines.push(m);
    recordLogLine(m);
  };
  return { trace: keep, debug: keep, info: keep, warn: keep, error: keep };
}

/** Every file under `dir` (none when it does not exist): the log files a run's check searches. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}
