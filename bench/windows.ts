/**
 * Windows fan-in: W "VS Code windows" as W separate processes (test/support/windowProcess.ts,
 * each with its own SessionManager, refresh timer and callers asking every ~20 ms), sharing one
 * SecretStorage with the desktop's semantics (test/support/storeServer.ts: one store, every write
 * announced to every window) and one global storage folder, keep one session alive over a number
 * of access-token lifetimes ("TTL cycles") against oidc-provider with rotating refresh tokens and
 * reuse detection. Counted at the IdP: refresh requests and invalid_grant answers. The ideal,
 * one refresh per cycle, is measured in the same run as W = 1: the refreshes one window alone
 * makes in the same time. Counts differ by one or two with when the processes start and stop, so
 * the gaps between refreshes are checked too: a second refresh within one token lifetime shows as
 * a gap shorter than the lifetime minus skew and jitter.
 */
import { startTestIdp, type TestIdp } from '../test/support/idp';
import { runWindows, sumReports } from '../test/support/windows';
import { fmt, log, type MeasurementResult } from './lib/common';
import { withSignedInStore } from './lib/harness';

export interface WindowsOptions {
  windows: number[];
  cycles: number;
  /** Access-token lifetime at the IdP, seconds. */
  ttlS?: number;
}

/** Refresh this long before expiry (plus up to JITTER_MS at random per window). */
const SKEW_MS = 500;
const JITTER_MS = 300;


interface WindowsRun {
  windows: number;
  refreshRequests: number;
  invalidGrants: number;
  otherErrors: number;
  elapsedMs: number;
  windowErrors: string[];
  missing: number;
  calls: number;
  /** Shortest time between two consecutive refreshes at the IdP. */
  minGapMs: number;
  /** Refreshes that came sooner after the previous one than a token lifetime allows. */
  earlyRefreshes: number;
}

async function oneRun(idp: TestIdp, windows: number, durationMs: number, ttlS: number): Promise<WindowsRun> {
  return withSignedInStore({ issuer: idp.issuer, clientId: idp.clientId, prefix: 'windows' }, async (desktop) => {
    const before = idp.tokenCalls.length;
    const start = Date.now();
    const reports = await runWindows(windows, {
      ...desktop,
      skewMs: SKEW_MS,
      jitterMs: JITTER_MS,
      durationMs,
      callEveryMs: 20,
    });
    const calls = idp.tokenCalls.slice(before);
    const at = calls.filter((c) => c.grantType === 'refresh_token' && c.status === 200).map((c) => c.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Each refresh happens within skew + jitter of expiry, so two refreshes of one lifetime are
    // closer than this (400 ms slack for a loaded machine, as test/unit/windows.test.ts allows).
    const minGap = ttlS * 1000 - SKEW_MS - JITTER_MS - 400;
    return {
      minGapMs: gaps.length ? Math.min(...gaps) : NaN,
      earlyRefreshes: gaps.filter((g) => g < minGap).length,
      windows,
      refreshRequests: calls.filter((c) => c.grantType === 'refresh_token').length,
      invalidGrants: calls.filter((c) => c.error === 'invalid_grant').length,
      otherErrors: calls.filter((c) => c.status !== 200 && c.error !== 'invalid_grant').length,
      elapsedMs: Date.now() - start,
      ...sumReports(reports),
    };
  });
}

export async function measureWindows(opts: WindowsOptions): Promise<MeasurementResult> {
  const ttlS = opts.ttlS ?? 2;
  const idp = await startTestIdp({ accessTokenTtl: ttlS, rotateRefreshToken: true });
  const durationMs = opts.cycles * ttlS * 1000;
  try {
    const runs: WindowsRun[] = [];
    for (const w of [1, ...opts.windows]) {
      const run = await oneRun(idp, w, durationMs, ttlS);
      runs.push(run);
      log(`windows W=${w}: ${run.refreshRequests} refreshes (${run.earlyRefreshes} early, min gap ${run.minGapMs} ms), ${run.invalidGrants} invalid_grant, ${run.calls} getSessions calls`);
    }
    const ideal = runs[0]!;
    const rows = runs.slice(1).map((r) => {
      const problems = [
        r.earlyRefreshes ? `${r.earlyRefreshes} refresh(es) sooner than one token lifetime after the previous` : '',
        r.otherErrors ? `${r.otherErrors} other IdP error(s)` : '',
        r.missing ? `${r.missing} call(s) found no session` : '',
        r.windowErrors.length ? `${r.windowErrors.length} error(s) in windows: ${[...new Set(r.windowErrors)].slice(0, 2).join('; ')}` : '',
      ].filter(Boolean);
      return {
        measurement: `windows fan-in W=${r.windows}, ${opts.cycles} TTL cycles of ${ttlS} s`,
        figure: `${r.refreshRequests} refreshes, ${r.invalidGrants} invalid_grant`,
        comparison: `ideal (one window alone): ${ideal.refreshRequests} refreshes, 0 invalid_grant`,
        ratio: r.refreshRequests / ideal.refreshRequests,
        target: '1 refresh per cycle, 0 errors',
        met: r.invalidGrants === 0 && problems.length === 0,
        note: [`shortest gap between refreshes ${fmt(r.minGapMs)} ms`, ...problems].join('; '),
      };
    });
    return {
      name: 'windows fan-in',
      method: `W = ${opts.windows.join(', ')} window processes (test/support/windowProcess.ts: own SessionManager, refresh timer with ${SKEW_MS} ms skew + up to ${JITTER_MS} ms jitter, getSessions every ~20 ms) over one desktop-like SecretStorage (test/support/storeServer.ts) and one shared folder, for ${opts.cycles} access-token lifetimes of ${ttlS} s against oidc-provider with rotating refresh tokens; refresh requests and invalid_grant answers counted at the IdP, against one window alone (W = 1) in the same run.`,
      rows,
      data: { runs, ttlS, cycles: opts.cycles, skewMs: SKEW_MS, jitterMs: JITTER_MS },
    };
  } finally {
    await idp.close();
  }
}
