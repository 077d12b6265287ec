/**
 * Two VS Code windows of one folder (two pages of one Chromium profile on one code-server
 * entry.js), one signed-in session, short-lived access tokens and an IdP that rotates refresh
 * tokens and kills the grant when one is spent twice (oidc-provider's reuse detection).
 *
 * Proves, in the real web workbench with the packaged extension:
 *  1. while both windows' consumers use the session every second for several token lifetimes,
 *     the IdP never answers a token request with an error (no rotated refresh token is spent
 *     twice) and no consumer ever goes without the session or gets a token about to expire;
 *  2. the windows refresh once per token lifetime between them, not once each;
 *  3. both windows end with the same, active token, and each consumer heard of a refresh
 *     through onDidChangeSessions;
 *  4. the exported API: getAccessToken(session, { forceRefresh }) refreshes exactly once, the
 *     other window asking the same with the token it held gets the new one without a refresh,
 *     and withAutoRefresh retries a 401 once with a new token; 6. the scopes form of API version 1
 *     gets nothing.
 *
 * Each window's extension host keeps its own copy of SecretStorage in this workbench (see
 * test/support/vscode/README.md); what the windows share is the extension's global storage
 * folder on the server (the refresh lock and the encrypted state file). So this suite fails if
 * that coordination breaks: run it with OIDC_E2E_VSIX pointing at a build whose lock is a no-op.
 *
 * Knobs (for experiments, not CI): OIDC_E2E_WINDOWS_TTL (access-token lifetime, s; default 30),
 * OIDC_E2E_WINDOWS_ROTATE=0 (no refresh-token rotation: a double refresh is then not fatal at
 * the IdP, so only assertions 2 and 3 can see it), OIDC_E2E_WINDOWS_OPEN_FIRST=0 (open window 2
 * after the sign-in; by default it is open before, so its SecretStorage copy predates everything
 * the sign-in stored: the harder case, which once lost the session). Logs and screenshots: .test-logs/e2e/windows/.
 *
 * One file of over 300 lines: one run of two windows, whose minutes of sampling the numbered
 * checks read; split, each part would repeat the sign-in and the sampling.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { sleep } from '../support/vscode/async';
import type { ReportedSession, SessionEvent } from './driver';
import { LOG_DIR, startWorld, type World } from './harness';
import { suiteLog } from './log';
import { EMAIL, LOGIN, check, isIdpPage, stepwise } from './suite';
import { clickDialogButton, completeIdpLogin, dialog, notifications, openQuickPickItems, until, waitForTab, waitForWorkbench } from './workbench';

const SCOPES = ['openid', 'api.read'];
const TTL_S = Number(process.env.OIDC_E2E_WINDOWS_TTL ?? 30);
const ROTATE = process.env.OIDC_E2E_WINDOWS_ROTATE !== '0';
/** Open window 2 before the sign-in (default), or after it (OIDC_E2E_WINDOWS_OPEN_FIRST=0). */
const OPEN_FIRST = process.env.OIDC_E2E_WINDOWS_OPEN_FIRST !== '0';
/**
 * The extension's refresh lead (src/core/sessions/refreshSchedule.ts): min(60 s, a tenth of the lifetime).
 * A window's timer fires between the lead and half of it before expiry; callers refresh from half
 * the lead on. For a 30 s lifetime: 1.5–3 s before expiry.
 */
const LEAD_MS = Math.min(60_000, (TTL_S * 1000) / 10);
/** The earliest a window may refresh a token after the IdP issued it; two refreshes closer than this spent one lifetime twice. */
const MIN_REFRESH_GAP_MS = TTL_S * 1000 - LEAD_MS - 500;
/** The latest: on demand, when a caller asks within half the lead (the consumers ask every second). */
const MAX_REFRESH_GAP_MS = TTL_S * 1000 - LEAD_MS / 2 + 15_000;
/** Refreshes the run waits for (at least 3 are required), and its bounds. */
const WANT_REFRESHES = 4;
const MIN_REFRESHES = 3;
/** Longer than a token lifetime, so tokens really expire during the run (checked at its end). */
const SAMPLING_MIN_MS = TTL_S * 1000 + 10_000;
const SAMPLING_MAX_MS = 150_000;
const DIR = path.join(LOG_DIR, 'windows');
const log = suiteLog('e2e windows');

/** A token's short digest, for logs (never the token). */
function tag(token: string | undefined): string {
  return token ? createHash('sha256').update(token).digest('hex').slice(0, 8) : '-';
}

interface Sample {
  /** When the call was sent and how long it took. */
  at: number;
  ms: number;
  token?: string;
  sessionId?: string;
  /** getSession resolved to undefined. */
  none?: boolean;
  error?: string;
}

interface Issuance {
  grantType: string;
  accessToken: string;
  at: number;
}

interface ApiResult {
  held: string;
  token: string;
}

describe('oidc-auth in two VS Code windows at once (code-server entry.js, one Chromium profile)', function () {
  this.timeout(120_000);
  this.slow(60_000);

  let page2: Page | undefined;
  const instances: string[] = [];
  let session: ReportedSession | undefined;
  const samples: Sample[][] = [[], []];
  let samplingStart = 0;
  let samplingEnd = 0;
  /** IdP token calls up to the end of sampling (the API steps add their own refreshes). */
  let sampledCalls: World['idp']['tokenCalls'] = [];
  let eventsFrom = 0;

  const w = stepwise(
    DIR,
    log,
    async () => {
      const world = await startWorld(log, { name: 'windows', idp: { accessTokenTtl: TTL_S, rotateRefreshToken: ROTATE } });
      // Each window runs its own extension host, so its own consumer instance: keep them all.
      world.driver.multiInstance = true;
      instances[0] = world.driver.instance!;
      log(`issuer ${world.issuer}; access tokens live ${TTL_S} s; refresh tokens ${ROTATE ? 'rotate (reuse kills the grant)' : 'do not rotate'}`);
      return world;
    },
    {
      onFailure: async () => {
        if (page2) log(`window 2 notifications: ${JSON.stringify(await notifications(page2).catch(() => []))}`);
      },
      cleanup: (world) => {
        if (world) writeTimeline(world);
      },
    },
  );
  /** Writes what happened (token calls, samples, events; tokens only as digests) to timeline.json. */
  const writeTimeline = (world: World) => {
    const timeline = {
      ttlSeconds: TTL_S,
      rotate: ROTATE,
      instances,
      samplingStart,
      samplingEnd,
      tokenCalls: world.idp.tokenCalls,
      issued: world.idp.issued.map((t) => ({ grantType: t.grantType, token: tag(t.accessToken) })),
      samples: samples.map((list) => list.map((s) => ({ ...s, token: tag(s.token) }))),
      events: world.driver.events.map((e) => ({
        ...e,
        session: e.session && 'accessToken' in e.session ? { id: e.session.id, token: tag(e.session.accessToken) } : e.session,
      })),
    };
    fs.mkdirSync(DIR, { recursive: true });
    fs.writeFileSync(path.join(DIR, 'timeline.json'), JSON.stringify(timeline, null, 2));
    log(`timeline in ${path.relative(process.cwd(), DIR)}/timeline.json`);
  };
  const isCallback = (url: URL) =>
    ['127.0.0.1', 'localhost'].includes(url.hostname) && url.pathname === '/callback' && Number(url.port) !== w().idp.port;
  const isSignInTab = (url: string) => isIdpPage(url, w().idp.port);
  const getSession = (win: 0 | 1, options: Record<string, unknown>, timeoutMs: number) =>
    w().driver.call<ReportedSession | null>('getSession', { scopes: SCOPES, options }, timeoutMs, instances[win]);
  const refreshCalls = (calls = w().idp.tokenCalls) => calls.filter((c) => c.grantType === 'refresh_token');
  const failedCalls = (calls = w().idp.tokenCalls) => calls.filter((c) => c.status !== 200);
  /** What the IdP issued, with when: the 200 answers of tokenCalls and `issued` are recorded in the same order. */
  const issuances = (): Issuance[] => {
    const ok = w().idp.tokenCalls.filter((c) => c.status === 200);
    const issued = w().idp.issued;
    assert.equal(ok.length, issued.length, 'every successful token call issued tokens');
    return issued.map((t, i) => ({ grantType: t.grantType, accessToken: t.accessToken, at: ok[i]!.at }));
  };
  const eventsOf = (win: 0 | 1): SessionEvent[] => w().driver.events.slice(eventsFrom).filter((e) => e.instance === instances[win]);
  const describeCalls = (calls: World['idp']['tokenCalls']) =>
    calls.map((c) => `${new Date(c.at).toISOString().slice(11, 23)} ${c.grantType} ${c.status}${c.error ? ` ${c.error}` : ''}`).join('; ');

  /** Opens window 2 (a second page of the same folder) and waits for its consumer. */
  async function openWindow2(): Promise<void> {
    const { context, driver, server } = w();
    const hellos = driver.hellos.length;
    page2 = await context.newPage();
    await page2.goto(server.url, { timeout: 90_000 });
    await waitForWorkbench(page2, 90_000);
    instances[1] = await driver.waitForHello(hellos, 90_000);
    assert.notEqual(instances[1], instances[0], 'window 2 runs its own extension host');
  }

  it(`window 1: the consumer signs in (consent, IdP login in a new tab)${OPEN_FIRST ? ', window 2 already open' : ''}`, async function () {
    this.timeout(OPEN_FIRST ? 240_000 : 120_000);
    const { page, context, idp } = w();
    if (OPEN_FIRST) await openWindow2();
    const pending = getSession(0, { createIfNone: true }, 110_000);
    pending.catch(() => undefined);
    const text = await clickDialogButton(page, 'Allow', 45_000);
    log(`window 1 consent: ${JSON.stringify(text.replace(/\s+/g, ' '))}`);
    const tab = await waitForTab(context, isSignInTab, 30_000);
    const result = await completeIdpLogin(tab, LOGIN, isCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ')}; "${result.title}"`);
    await tab.close();
    session = (await pending) ?? undefined;
    assert.ok(session, 'getSession with createIfNone resolved to undefined');
    assert.equal(session.account.label, EMAIL);
    assert.equal((await idp.introspect(session.accessToken)).active, true);
    assert.equal(idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === 200).length, 1);
    const refresh = idp.issued.find((t) => t.grantType === 'authorization_code')?.refreshToken;
    assert.ok(refresh, 'the IdP issued a refresh token (the run is about refreshing)');
  });

  it('window 2 (a second page of the same folder): its consumer gets the same session without a new login', async function () {
    this.timeout(180_000);
    const { context, idp } = w();
    if (!page2) await openWindow2();
    const codesBefore = idp.tokenCalls.filter((c) => c.grantType === 'authorization_code').length;

    let got = await getSession(1, { silent: true }, 45_000);
    const asked: string[] = [];
    if (!got) {
      // This window has not granted the consumer access yet: the consent a person gives once.
      const pending = getSession(1, { createIfNone: true }, 90_000);
      let settled = false;
      const done = pending.then(
        (v) => ((settled = true), v),
        (err: unknown) => {
          settled = true;
          throw err;
        },
      );
      done.catch(() => undefined);
      const deadline = Date.now() + 90_000;
      while (!settled && Date.now() < deadline) {
        const p = page2!;
        if (context.pages().some((t) => isSignInTab(t.url()))) throw new Error(`window 2 opened a sign-in tab (asked: ${asked.join(' | ')})`);
        if (await dialog(p).isVisible().catch(() => false)) {
          asked.push(`dialog: ${(await dialog(p).innerText().catch(() => '')).replace(/\s+/g, ' ').trim()}`);
          await clickDialogButton(p, 'Allow', 5000).catch((err: unknown) => asked.push(`(click failed: ${String(err)})`));
        } else {
          const items = await openQuickPickItems(p);
          if (items && items.length) {
            asked.push(`quick pick: ${JSON.stringify(items)}`);
            const row = p.locator('.quick-input-widget .monaco-list-row').filter({ hasText: EMAIL }).first();
            if (await row.isVisible().catch(() => false)) await row.click({ timeout: 5000 });
            else await p.keyboard.press('Enter');
          }
        }
        await sleep(300);
      }
      got = await done;
      log(`window 2 asked: ${asked.join(' | ') || '(nothing)'}`);
      assert.ok(got, 'window 2 did not get the session after consenting');
      // From now on silent calls must find it.
      got = await getSession(1, { silent: true }, 45_000);
      assert.ok(got, 'window 2: silent getSession still returns undefined after consent');
    }
    log(`window 2 has session ${got.id.slice(0, 8)}, token ${tag(got.accessToken)} (window 1's: ${tag(session!.accessToken)})`);
    assert.equal(got.id, session!.id, 'the same session as window 1');
    assert.equal(got.account.label, EMAIL);
    assert.equal(idp.tokenCalls.filter((c) => c.grantType === 'authorization_code').length, codesBefore, 'no new login');
    assert.equal(context.pages().filter((t) => isSignInTab(t.url())).length, 0, 'no sign-in tab');
  });

  it(`both windows use the session every second for several token lifetimes (until ${WANT_REFRESHES} refreshes at the IdP)`, async function () {
    this.timeout(SAMPLING_MAX_MS + 60_000);
    const { idp } = w();
    eventsFrom = w().driver.events.length;
    samplingStart = Date.now();
    const refreshesBefore = refreshCalls().length;
    let stop = false;
    const sampler = async (win: 0 | 1) => {
      while (!stop) {
        const t0 = Date.now();
        try {
          const s = await getSession(win, { silent: true }, 45_000);
          samples[win]!.push(s ? { at: t0, ms: Date.now() - t0, token: s.accessToken, sessionId: s.id } : { at: t0, ms: Date.now() - t0, none: true });
        } catch (err) {
          samples[win]!.push({ at: t0, ms: Date.now() - t0, error: err instanceof Error ? err.message : String(err) });
        }
        await sleep(Math.max(50, 1000 - (Date.now() - t0)));
      }
    };
    const running = [sampler(0), sampler(1)];
    let lastReport = 0;
    let failedAt: number | undefined;
    try {
      for (;;) {
        await sleep(500);
        const now = Date.now();
        const refreshes = refreshCalls().length - refreshesBefore;
        const bad = failedCalls().length > 0 || samples.some((l) => l.some((s) => s.none || s.error));
        if (bad) failedAt ??= now;
        if (now - lastReport > 15_000) {
          lastReport = now;
          log(`${Math.round((now - samplingStart) / 1000)} s: ${refreshes} refreshes, samples ${samples[0]!.length}/${samples[1]!.length}, events ${eventsOf(0).length}/${eventsOf(1).length}`);
        }
        const enough = refreshes >= WANT_REFRESHES && eventsOf(0).length > 0 && eventsOf(1).length > 0 && now - samplingStart >= SAMPLING_MIN_MS;
        // On a failure, keep going a little to record what follows (in the timeline), then stop.
        if (enough || now - samplingStart >= SAMPLING_MAX_MS || (failedAt !== undefined && now - failedAt > 10_000)) break;
      }
    } finally {
      stop = true;
      await Promise.all(running);
    }
    samplingEnd = Date.now();
    sampledCalls = [...idp.tokenCalls];
    const refreshes = refreshCalls(sampledCalls).length - refreshesBefore;
    log(
      `sampled ${Math.round((samplingEnd - samplingStart) / 1000)} s: ${samples[0]!.length} + ${samples[1]!.length} getSession calls ` +
        `(slowest ${Math.max(...samples.flat().map((s) => s.ms))} ms), ${refreshes} refreshes at the IdP`,
    );
    log(`token endpoint: ${describeCalls(sampledCalls)}`);
    for (const win of [0, 1] as const) {
      const seen: string[] = [];
      for (const s of samples[win]!) if (s.token && seen[seen.length - 1] !== tag(s.token)) seen.push(tag(s.token));
      log(`window ${win + 1} saw tokens ${seen.join(' → ')}; events ${eventsOf(win).map((e) => `${new Date(e.at).toISOString().slice(17, 23)} ${e.session && 'accessToken' in e.session ? tag(e.session.accessToken) : JSON.stringify(e.session)}${e.changed !== undefined ? ` changed=${JSON.stringify(e.changed).length}b` : ''}`).join(', ')}`);
    }
    assert.ok(refreshes >= MIN_REFRESHES, `only ${refreshes} refreshes at the IdP in ${Math.round((samplingEnd - samplingStart) / 1000)} s (need ${MIN_REFRESHES})`);
    // The run outlived the token the windows started with: it expired at the IdP meanwhile.
    const first = samples[0]!.find((s) => s.token)?.token;
    const firstIssued = issuances().find((i) => i.accessToken === first);
    if (first && firstIssued && Date.now() - firstIssued.at > TTL_S * 1000 + 2000) {
      assert.equal((await idp.introspect(first)).active, false, 'the first token of the run has expired at the IdP');
      log(`the first token of the run (${tag(first)}) has expired at the IdP: the run crossed real expiries`);
    }
  });

  check('1. no token request failed at the IdP (no rotated refresh token spent twice) and no consumer went without the session', async function () {
    // Every problem at once, so a failure tells the whole story.
    const problems: string[] = [];
    const failed = failedCalls(sampledCalls);
    if (failed.length) problems.push(`the token endpoint refused: ${describeCalls(failed)}`);
    const byToken = new Map(issuances().map((i) => [i.accessToken, i]));
    const rel = (at: number) => `+${Math.round((at - samplingStart) / 1000)} s`;
    let minLeft = Infinity;
    for (const win of [0, 1] as const) {
      const list = samples[win]!;
      if (list.length < 30) problems.push(`window ${win + 1}: only ${list.length} samples`);
      const lost = list.filter((s) => s.none);
      if (lost.length) problems.push(`window ${win + 1}: getSession returned undefined ${lost.length} of ${list.length} times, first at ${rel(lost[0]!.at)}`);
      const errors = list.filter((s) => s.error);
      if (errors.length) problems.push(`window ${win + 1}: getSession failed ${errors.length} times: ${errors.slice(0, 3).map((s) => s.error).join(' | ')}`);
      for (const s of list.filter((x) => x.token)) {
        if (s.sessionId !== session!.id) problems.push(`window ${win + 1}: a different session at ${rel(s.at)}`);
        const from = byToken.get(s.token!);
        if (!from) {
          problems.push(`window ${win + 1}: a token the IdP never issued at ${rel(s.at)}`);
          continue;
        }
        // A handed-out token has at least half the lead left (less a little for the answer's travel).
        const left = from.at + TTL_S * 1000 - s.at;
        minLeft = Math.min(minLeft, left);
        if (left < LEAD_MS / 2 - 1000) problems.push(`window ${win + 1}: a token with only ${Math.round(left / 1000)} s left at ${rel(s.at)}`);
      }
    }
    log(`least lifetime left on a handed-out token: ${Math.round(minLeft / 1000)} s`);
    assert.deepEqual(problems, []);
  });

  check(`2. one refresh per token lifetime between the two windows (consecutive refreshes ${(MIN_REFRESH_GAP_MS / 1000).toFixed(1)}–${MAX_REFRESH_GAP_MS / 1000} s apart)`, async function () {
    // Every grant that produced a token (the login, then each refresh) up to the end of sampling.
    const grants = sampledCalls.filter((c) => c.grantType === 'authorization_code' || c.grantType === 'refresh_token');
    const gaps = grants.slice(1).map((c, i) => c.at - grants[i]!.at);
    log(`gaps between token grants: ${gaps.map((g) => (g / 1000).toFixed(1)).join(', ')} s (min allowed ${(MIN_REFRESH_GAP_MS / 1000).toFixed(1)} s)`);
    const tooClose = gaps.map((g, i) => ({ g, i })).filter(({ g }) => g < MIN_REFRESH_GAP_MS);
    assert.deepEqual(
      tooClose.map(({ g, i }) => `${grants[i + 1]!.grantType} ${(g / 1000).toFixed(1)} s after the previous grant`),
      [],
      'two refreshes within one token lifetime: both windows refreshed',
    );
    // Refreshes in the sampling window only (window 2 may have opened long after the login).
    const sampled = grants.filter((c) => c.at >= samplingStart);
    const sampledGaps = sampled.slice(1).map((c, i) => c.at - sampled[i]!.at);
    assert.ok(sampledGaps.every((g) => g <= MAX_REFRESH_GAP_MS), `a refresh came late: gaps ${sampledGaps.map((g) => Math.round(g / 1000)).join(', ')} s`);
    const span = samplingEnd - samplingStart;
    const most = Math.floor(span / MIN_REFRESH_GAP_MS) + 1;
    assert.ok(sampled.length <= most, `${sampled.length} refreshes in ${Math.round(span / 1000)} s`);
  });

  check('3. both windows end with the same active token, and each consumer heard of a refresh (onDidChangeSessions)', async function () {
    const { idp } = w();
    // A refresh may land between the two reads: read again until they agree (bounded).
    const [a, b] = await until('both windows to report the same token', 45_000, async () => {
      const [x, y] = await Promise.all([getSession(0, { silent: true }, 30_000), getSession(1, { silent: true }, 30_000)]);
      return x && y && x.accessToken === y.accessToken ? ([x, y] as const) : undefined;
    });
    assert.equal(a.id, b.id);
    const latest = issuances().at(-1)!;
    assert.equal(a.accessToken, latest.accessToken, 'the token both hold is the newest the IdP issued');
    const introspection = await idp.introspect(a.accessToken);
    assert.equal(introspection.active, true, 'the shared token is active at the IdP');
    const refreshedTokens = new Set(issuances().filter((i) => i.grantType === 'refresh_token').map((i) => i.accessToken));
    for (const win of [0, 1] as const) {
      const events = eventsOf(win);
      const nulls = events.filter((e) => e.session === null || (e.session !== null && 'error' in e.session));
      assert.deepEqual(nulls.map((e) => e.session), [], `window ${win + 1}: an event without the session`);
      const fromRefresh = events.filter((e) => e.session && 'accessToken' in e.session && e.session.id === session!.id && refreshedTokens.has(e.session.accessToken));
      assert.ok(fromRefresh.length >= 1, `window ${win + 1}: no onDidChangeSessions carrying a refreshed token (${events.length} events)`);
      log(`window ${win + 1}: ${fromRefresh.length} of ${events.length} events carried a refreshed token`);
    }
  });

  /** Waits until a refresh has just happened and both windows hold its token: the next is ≥ MIN_REFRESH_GAP_MS away. */
  async function afterFreshRefresh(): Promise<string> {
    const { idp } = w();
    const before = refreshCalls().length;
    await until('a proactive refresh', TTL_S * 1000, () => (refreshCalls().length > before ? true : undefined));
    const latest = issuances().at(-1)!.accessToken;
    await until('both windows to hold the refreshed token', 20_000, async () => {
      const [x, y] = await Promise.all([getSession(0, { silent: true }, 15_000), getSession(1, { silent: true }, 15_000)]);
      return x?.accessToken === latest && y?.accessToken === latest ? true : undefined;
    });
    const age = Date.now() - refreshCalls().at(-1)!.at;
    log(`a refresh ${(age / 1000).toFixed(1)} s ago; both windows hold ${tag(latest)}`);
    assert.equal(idp.issued.at(-1)!.accessToken, latest);
    return latest;
  }

  it('4. API: getAccessToken(forceRefresh) refreshes exactly once; the other window asking with its old token gets the new one with no refresh', async function () {
    this.timeout(TTL_S * 1000 + 90_000);
    const { idp, driver } = w();
    for (const win of [0, 1] as const) assert.ok(await getSession(win, { silent: true }, 15_000), `window ${win + 1} has no session`);
    const held = await afterFreshRefresh();

    let t0 = Date.now();
    const forced = await driver.call<ApiResult>('apiGetAccessToken', { scopes: SCOPES, forceRefresh: true }, 30_000, instances[0]);
    let t1 = Date.now();
    const forcedCalls = refreshCalls().filter((c) => c.at >= t0 && c.at <= t1);
    log(`window 1 forceRefresh with ${tag(forced.held)} → ${tag(forced.token)} in ${t1 - t0} ms; IdP refreshes meanwhile: ${describeCalls(forcedCalls)}`);
    assert.equal(forced.held, held, 'window 1 presented the token it holds');
    assert.notEqual(forced.token, held, 'forceRefresh returned a new token');
    assert.equal(forcedCalls.length, 1, 'exactly one refresh_token call at the IdP for forceRefresh');
    assert.equal(forcedCalls[0]!.status, 200);
    assert.equal(forced.token, idp.issued.at(-1)!.accessToken, 'the token the IdP issued for it');
    assert.equal((await idp.introspect(forced.token)).active, true, 'the new token is active');
    // oidc-provider does not revoke access tokens when a refresh token is used (rotated or not):
    // the old one stays valid until it expires. The extension must not rely on either.
    assert.equal((await idp.introspect(held)).active, true, 'oidc-provider leaves the previous access token active until it expires');

    // Window 2 was given `held` too; its API is told that `held` was refused.
    t0 = Date.now();
    const other = await driver.call<ApiResult>('apiGetAccessToken', { scopes: SCOPES, forceRefresh: true, accessToken: held }, 30_000, instances[1]);
    t1 = Date.now();
    const otherCalls = refreshCalls().filter((c) => c.at >= t0 && c.at <= t1);
    log(`window 2 forceRefresh with ${tag(other.held)} → ${tag(other.token)} in ${t1 - t0} ms; IdP refreshes meanwhile: ${otherCalls.length}`);
    assert.equal(other.token, forced.token, "window 2 gets window 1's new token");
    assert.equal(otherCalls.length, 0, 'no second refresh for the same refused token');
    assert.deepEqual(failedCalls(), [], `the token endpoint refused: ${describeCalls(failedCalls())}`);
  });

  it('5. API: withAutoRefresh calls fn again with a new token after a 401', async function () {
    const { idp, driver } = w();
    const t0 = Date.now();
    const result = await driver.call<{ held: string; calls: string[]; value: string }>('apiWithAutoRefresh', { scopes: SCOPES }, 30_000, instances[0]);
    const t1 = Date.now();
    const calls = refreshCalls().filter((c) => c.at >= t0 && c.at <= t1);
    log(`withAutoRefresh: fn got ${result.calls.map(tag).join(', ')} in ${t1 - t0} ms; IdP refreshes meanwhile: ${calls.length}`);
    assert.equal(result.value, 'ok');
    assert.equal(result.calls.length, 2, 'fn called twice');
    assert.notEqual(result.calls[0], result.calls[1], 'with two different tokens');
    assert.equal(result.calls[0], result.held, 'first with the session token');
    assert.equal(calls.length, 1, 'one refresh_token call for the retry');
    assert.equal(result.calls[1], idp.issued.at(-1)!.accessToken);
    assert.equal((await idp.introspect(result.calls[1]!)).active, true);
    // And the other window adopts it.
    await until('window 2 to hold the new token', 30_000, async () =>
      (await getSession(1, { silent: true }, 15_000))?.accessToken === result.calls[1] ? true : undefined,
    );
    assert.deepEqual(failedCalls(), [], `the token endpoint refused: ${describeCalls(failedCalls())}`);
  });

  it('6. API version 2: the scopes form (no session object) gives nothing and starts no sign-in', async function () {
    const { idp, driver } = w();
    const issuedBefore = idp.issued.length;
    const callsBefore = idp.tokenCalls.length;
    type Attempt = { ok: boolean; code?: string | null; value?: string };
    const r = await driver.call<{ apiVersion: number; getAccessToken: Attempt; forced: Attempt; withAutoRefresh: Attempt; calls: string[] }>(
      'apiScopes',
      { scopes: SCOPES },
      30_000,
      instances[1],
    );
    log(`scopes form: ${JSON.stringify({ ...r, calls: r.calls.length })}`);
    assert.equal(r.apiVersion, 2);
    for (const attempt of [r.getAccessToken, r.forced, r.withAutoRefresh]) {
      assert.deepEqual([attempt.ok, attempt.code], [false, 'NotASession']);
    }
    assert.deepEqual(r.calls, [], 'fn was never given a token');
    assert.equal(idp.issued.length, issuedBefore, 'no token was issued (no sign-in, no refresh)');
    assert.equal(idp.tokenCalls.length, callsBefore);
    const total = w().idp.tokenCalls;
    log(`whole run: ${total.filter((c) => c.grantType === 'refresh_token').length} refreshes, ${failedCalls().length} failures at the IdP`);
  });
});
