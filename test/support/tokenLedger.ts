/**
 * Every token the test IdPs of one test process issued, so a last suite can search every log the
 * run wrote for them. Register each IdP a suite starts.
 */
import type { TestIdp } from './idp';

const idps: TestIdp[] = [];

export function trackIssuedTokens(idp: TestIdp): void {
  idps.push(idp);
}

export function issuedTokenValues(): string[] {
  const values = new Set<string>();
  for (const idp of idps) {
    for (const t of idp.issued) {
      values.add(t.accessToken);
      if (t.refreshToken) values.add(t.refreshToken);
    }
  }
  return [...values];
}
