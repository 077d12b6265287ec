/**
 * Refresh fan-in: N callers ask for the session at once after its access token expired. One
 * SessionManager configured as the provider configures it (SecretStorage map + shared state
 * folder, proactive refresh off so that the callers, not a timer, find the token expired), its
 * clock moved past the expiry before each round; oidc-provider rotates refresh tokens with reuse
 * detection, so a refresh token spent twice would show as invalid_grant. Counted: refresh
 * requests that reach the IdP's token endpoint; timed: from launching the N getSessions() calls
 * until the last one resolves. The ideal is one request taking one IdP round trip, measured in
 * the same rounds as a bare oauth4webapi refresh (request + response processing) against the same
 * IdP.
 */
import * as oauth from 'oauth4webapi';
import { startTestIdp } from '../test/support/idp';
import { completeLogin } from '../test/support/loginRobot';
import { fmt, log, median, type MeasurementResult } from './lib/common';
import { coreManager, signIn } from './lib/harness';

export interface FanInOptions {
  ns: number[];
  rounds: number;
}

interface Round {
  n: number;
  refreshRequests: number;
  errors: string[];
  lastMs: number;
  firstMs: number;
  bareMs: number;
  distinctTokens: number;
  emptyAnswers: number;
}

/** A bare oauth4webapi client holding its own grant at the same IdP. */
async function bareClient(issuer: string, clientId: string) {
  const iss = new URL(issuer);
  const opts = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(iss, await oauth.discoveryRequest(iss, opts));
  const client: oauth.Client = { client_id: clientId };
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const redirectUri = 'http://127.0.0.1:1/callback';
  const url = new URL(as.authorization_endpoint!);
  const params = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const robot = await completeLogin(url, { stopAtCallback: true });
  const cb = oauth.validateAuthResponse(as, client, robot.callbackUrl, state);
  const first = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), cb, redirectUri, verifier, opts),
  );
  let refreshToken = first.refresh_token!;
  return {
    /** One refresh round trip; keeps the rotated refresh token. */
    async refresh(): Promise<number> {
      const t = performance.now();
      const res = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, opts));
      const ms = performance.now() - t;
      refreshToken = res.refresh_token ?? refreshToken;
      return ms;
    },
  };
}

export async function measureFanIn(opts: FanInOptions): Promise<MeasurementResult> {
  const idp = await startTestIdp({ rotateRefreshToken: true });
  let offset = 0;
  const core = coreManager({ issuer: idp.issuer, clientId: idp.clientId, now: () => Date.now() + offset, proactiveRefresh: false });
  try {
    const bare = await bareClient(idp.issuer, idp.clientId);
    await signIn(core, ['openid']);
    // Warm-up: one refresh each, outside the figures.
    offset += 2 * 3600_000;
    await core.manager.getSessions(['openid']);
    await bare.refresh();
    const rounds: Round[] = [];
    for (const n of opts.ns) {
      for (let r = 0; r < opts.rounds; r++) {
        offset += 2 * 3600_000; // past the access token's lifetime (1 h at the test IdP)
        const before = idp.tokenCalls.length;
        const done: number[] = new Array<number>(n);
        const t0 = performance.now();
        const answers = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            core.manager.getSessions(['openid']).then((s) => {
              done[i] = performance.now() - t0;
              return s;
            }),
          ),
        );
        const calls = idp.tokenCalls.slice(before);
        const bareMs = await bare.refresh();
        rounds.push({
          n,
          refreshRequests: calls.filter((c) => c.grantType === 'refresh_token').length,
          errors: calls.filter((c) => c.status !== 200).map((c) => c.error ?? String(c.status)),
          lastMs: Math.max(...done),
          firstMs: Math.min(...done),
          bareMs,
          distinctTokens: new Set(answers.flatMap((a) => a.map((s) => s.accessToken))).size,
          emptyAnswers: answers.filter((a) => a.length === 0).length,
        });
      }
      const mine = rounds.filter((x) => x.n === n);
      log(`fan-in N=${n}: ${mine.map((x) => x.refreshRequests).join(',')} refresh request(s); last caller ${fmt(median(mine.map((x) => x.lastMs)))} ms`);
    }
    const rows = opts.ns.map((n) => {
      const mine = rounds.filter((x) => x.n === n);
      const reqs = mine.map((x) => x.refreshRequests);
      const maxReq = Math.max(...reqs);
      const errors = mine.flatMap((x) => x.errors);
      const lastMs = median(mine.map((x) => x.lastMs));
      const bareMs = median(mine.map((x) => x.bareMs));
      const problems = [
        errors.length ? `${errors.length} IdP error(s): ${[...new Set(errors)].join(', ')}` : '',
        mine.some((x) => x.emptyAnswers) ? `${mine.reduce((a, x) => a + x.emptyAnswers, 0)} caller(s) got no session` : '',
        mine.some((x) => x.distinctTokens !== 1) ? 'callers got different tokens' : '',
      ].filter(Boolean);
      return {
        measurement: `refresh fan-in N=${n.toLocaleString('en-US')} (median of ${mine.length} rounds)`,
        figure: `${maxReq === Math.min(...reqs) ? maxReq : `${Math.min(...reqs)}–${maxReq}`} request(s); last caller after ${fmt(lastMs)} ms`,
        comparison: `ideal: 1 request; one IdP round trip ${fmt(bareMs)} ms`,
        ratio: lastMs / bareMs,
        target: '1 request, 0 errors',
        met: maxReq === 1 && problems.length === 0,
        note: problems.length ? problems.join('; ') : `first caller answered after ${fmt(median(mine.map((x) => x.firstMs)))} ms; ratio is time to the last caller / one round trip`,
      };
    });
    return {
      name: 'refresh fan-in',
      method: `For N in ${opts.ns.join(', ')}: ${opts.rounds} rounds of N concurrent getSessions(['openid']) on one SessionManager (configured as the provider does, proactive refresh off) whose clock is moved past the token's expiry before each round, against oidc-provider with rotating refresh tokens; refresh requests counted at the IdP's token endpoint, time measured from launching the calls to the last one resolving, against one bare oauth4webapi refresh round trip measured right after each round.`,
      rows,
      data: { rounds },
    };
  } finally {
    core.dispose();
    await idp.close();
  }
}
