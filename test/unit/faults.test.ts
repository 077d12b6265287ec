/**
 * Network and server faults between the core and a real oidc-provider, injected by a proxy
 * (test/support/faultProxy.ts) that the IdP's issuer points at: connection refused, reset
 * before and in the middle of an answer, stalls past the request timeout, 500/502/503 with and
 * without Retry-After, and HTML where JSON belongs, during discovery, the code exchange,
 * refresh, device polling and revocation. test/SECURITY.md lists what each test shows.
 *
 * Over 300 lines: it is one matrix (every fault in every phase) over one proxy and one IdP;
 * the phases share the fault list and the proxy's set-up, which a split would repeat.
 */
import * as assert from 'node:assert/strict';
import { exchangeCallback, makeClient, prepareAuthorization } from '../../src/core/protocol/authorizationCode';
import { OidcError } from '../../src/core/errors';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/pages';
import { discover, IssuerCache } from '../../src/core/protocol/discovery';
import { revokeToken } from '../../src/core/protocol/revocation';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import type { SessionManager } from '../../src/core/sessions/sessionManager';
import type { StoredSession } from '../../src/core/sessions/sessions';
import { sleep } from '../../src/core/timers';
import { startFaultProxy, type FaultAction, type FaultProxy } from '../support/faultProxy';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeDeviceLogin, completeLogin } from '../support/loginRobot';
import { coreHarness, idpConfig, mediaTemplates, robotBrowser, portIsClosed, type CoreHarness, type HarnessOptions } from '../support/coreHarness';
import { rejection } from '../support/rejection';
import { recordingLogger } from '../support/tokenLedger';
import { ProviderProtocol } from '../../src/core/protocol/providerProtocol';

const DISCOVERY = '/.well-known/openid-configuration';
const TOKEN = '/token';
const REVOCATION = '/token/revocation';

/**
 * The 30 s stall. It outlasts every test's own timeout, so only the request timeout the
 * test configures (a few hundred ms) can end the request: no test waits the 30 s.
 */
const STALL_MS = 30_000;

const HTML_PAGE = '<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>';

interface Fault {
  name: string;
  /** What the proxy does to the matching request; `refused` takes the proxy down instead. */
  action: FaultAction | 'refused';
  /** An HTTP error status: the message should name it. */
  status?: number;
}

/** Every fault, each applied in every phase below. */
const FAULTS: Fault[] = [
  { name: 'connection refused', action: 'refused' },
  { name: 'connection reset before the answer', action: { kind: 'reset' } },
  { name: 'connection reset in the middle of the answer', action: { kind: 'reset-mid-response' } },
  { name: 'HTTP 500 with an HTML page', action: { kind: 'answer', status: 500, body: HTML_PAGE }, status: 500 },
  { name: 'HTTP 502 from a gateway', action: { kind: 'answer', status: 502, body: '<html><body>502 Bad Gateway</body></html>' }, status: 502 },
  {
    name: 'HTTP 503 with Retry-After',
    action: { kind: 'answer', status: 503, body: HTML_PAGE, headers: { 'retry-after': '120' } },
    status: 503,
  },
  { name: 'HTTP 503 without Retry-After', action: { kind: 'answer', status: 503, body: 'Service Unavailable', contentType: 'text/plain' }, status: 503 },
  { name: 'HTTP 200 with an HTML page instead of JSON', action: { kind: 'answer', status: 200, body: HTML_PAGE } },
];

const managers: SessionManager[] = [];

describe('faults between the core and oidc-provider (through a fault proxy)', function () {
  let proxy: FaultProxy;
  let idp: TestIdp;
  let issuer: URL;

  before(async () => {
    proxy = await startFaultProxy();
    idp = await startTestIdp({ deviceFlow: true, par: false, issuerHost: proxy.issuerHostFor() });
    proxy.setTarget(idp.port);
    issuer = new URL(idp.issuer);
    assert.equal(issuer.origin, proxy.origin, 'the issuer is on the proxy');
  });
  after(async () => {
    await proxy.close();
    await idp.close();
  });
  afterEach(async () => {
    proxy.clear();
    await proxy.up().catch(() => undefined);
    idp.injectTokenErrors.length = 0;
    for (const m of managers.splice(0)) m.dispose();
  });

  function harness(options: Omit<HarnessOptions, 'proactiveRefresh'> & { scopes?: string[] } = {}): CoreHarness {
    const { scopes, ...rest } = options;
    // The tests refresh on demand; a timer firing at load would race the injected fault.
    const h = coreHarness(idpConfig(idp, scopes ? { scopes } : {}), { ...rest, proactiveRefresh: false });
    managers.push(h.manager);
    return h;
  }

  /** Applies `fault` to the next request for `path` (for `refused`, takes the proxy down now). */
  async function apply(fault: Fault, target: string, method?: string): Promise<void> {
    if (fault.action === 'refused') return proxy.down();
    proxy.inject({ path: target, action: fault.action, ...(method ? { method } : {}) });
  }

  function assertNoSecrets(texts: string[], extra: string[] = []): void {
    const secrets = [...idp.issued.flatMap((t) => [t.accessToken, t.refreshToken ?? '']).filter(Boolean), ...extra];
    for (const text of texts) {
      for (const s of secrets) assert.ok(!text.includes(s), `a token or code leaked: ${text.slice(0, 200)}`);
    }
  }

  async function signedIn(store = new MemorySecretStore()): Promise<{ h: CoreHarness; session: StoredSession }> {
    const h = harness({ store });
    const session = await h.manager.createSession([], robotBrowser());
    return { h, session };
  }

  // ---------------------------------------------------------------- discovery (at sign-in)
  describe('discovery at sign-in', () => {
    const expected: Record<string, { kind: OidcError['kind']; message: RegExp }> = {
      'connection refused': { kind: 'network', message: /Could not reach the identity provider at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/ },
      'connection reset before the answer': { kind: 'network', message: /Could not reach the identity provider at 127\.0\.0\.1:\d+/ },
      'connection reset in the middle of the answer': { kind: 'network', message: /Could not reach the identity provider at 127\.0\.0\.1:\d+/ },
      // Server errors: a network fault, named with its HTTP status.
      'HTTP 500 with an HTML page': { kind: 'network', message: /could not answer discovery \(HTTP 500\)/ },
      'HTTP 502 from a gateway': { kind: 'network', message: /could not answer discovery \(HTTP 502\)/ },
      'HTTP 503 with Retry-After': { kind: 'network', message: /could not answer discovery \(HTTP 503\)/ },
      'HTTP 503 without Retry-After': { kind: 'network', message: /could not answer discovery \(HTTP 503\)/ },
      'HTTP 200 with an HTML page instead of JSON': { kind: 'protocol', message: /does not look like an OpenID Connect issuer/ },
    };
    for (const fault of FAULTS) {
      it(`${fault.name}: sign-in fails clearly, nothing stored, no browser, and the next sign-in works`, async () => {
        const h = harness();
        await apply(fault, DISCOVERY);
        let opened = false;
        const browser = { ...robotBrowser(), openBrowser: async () => void (opened = true) };
        const want = expected[fault.name]!;
        const err = await rejection(h.manager.createSession([], browser), [want.kind, 'network'], want.message);
        assert.equal(opened, false, 'no browser was opened');
        assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
        assert.equal(h.changes.length, 0);
        assertNoSecrets([...h.logs, err.message]);
        // The failure is not cached: once the IdP answers again, sign-in works.
        await proxy.up();
        proxy.clear();
        const session = await h.manager.createSession([], robotBrowser());
        assert.equal(session.accountId, 'alice');
      });
    }

    it('a 30 s stall (request timeout 300 ms): discovery gives up in time with a timeout error', async () => {
      proxy.inject({ path: DISCOVERY, action: { kind: 'stall', ms: STALL_MS } });
      await rejection(discover(issuer, { timeoutMs: 300 }, recordingLogger([])), 'timeout', /did not answer discovery in time/);
      proxy.inject({ path: DISCOVERY, action: { kind: 'stall', ms: STALL_MS } });
      const cache = new IssuerCache(recordingLogger([]));
      await rejection(cache.get(issuer, { timeoutMs: 300 }), 'timeout', /in time/);
      const as = await cache.get(issuer, { timeoutMs: 2000 });
      assert.equal(as.issuer, issuer.href, 'the timed-out attempt was not cached');
    });
  });

  // ---------------------------------------------------------------- code exchange
  describe('code exchange', () => {
    const expected: Record<string, { kind: OidcError['kind']; message: RegExp }> = {
      'connection refused': { kind: 'network', message: /Could not reach the identity provider at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/ },
      'connection reset before the answer': { kind: 'network', message: /Could not reach the identity provider/ },
      'connection reset in the middle of the answer': { kind: 'network', message: /Could not reach the identity provider/ },
      'HTTP 500 with an HTML page': { kind: 'network', message: /could not answer the token request \(HTTP 500\)/ },
      'HTTP 502 from a gateway': { kind: 'network', message: /could not answer the token request \(HTTP 502\)/ },
      'HTTP 503 with Retry-After': { kind: 'network', message: /could not answer the token request \(HTTP 503\)/ },
      'HTTP 503 without Retry-After': { kind: 'network', message: /could not answer the token request \(HTTP 503\)/ },
      'HTTP 200 with an HTML page instead of JSON': { kind: 'protocol', message: /token request is not valid: .*application\/json/ },
    };
    for (const fault of FAULTS) {
      it(`${fault.name}: sign-in fails clearly, the browser is told, nothing stored, the port closes`, async () => {
        const h = harness();
        let code = '';
        const browser = robotBrowser(async (url) => {
          const atCallback = await completeLogin(url, { stopAtCallback: true });
          code = atCallback.callbackUrl.searchParams.get('code') ?? '';
          await apply(fault, TOKEN, 'POST');
          const res = await fetch(atCallback.callbackUrl);
          return { callbackUrl: atCallback.callbackUrl, status: res.status, body: await res.text(), headers: res.headers };
        });
        const want = expected[fault.name]!;
        const err = await rejection(h.manager.createSession([], browser), [want.kind, 'network'], want.message);
        const page = await browser.result();
        assert.equal(page.status, 400);
        assert.match(page.body, /Sign-in failed/);
        assert.ok(await portIsClosed(Number(page.callbackUrl.port)), 'the loopback port is closed');
        assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
        assert.equal(h.store.data.get(h.manager.key), undefined, 'nothing written');
        assert.equal(h.changes.length, 0);
        assertNoSecrets([...h.logs, err.message, page.body], [code]);
      });
    }

    it('a 30 s stall (request timeout 300 ms): the exchange gives up with a timeout error', async () => {
      const log = recordingLogger([]);
      const as = await discover(issuer, {}, log);
      const client = makeClient(as, idp.clientId);
      const protocol = new ProviderProtocol({ issuer, as, client });
      const pending = await prepareAuthorization({
        protocol,
        redirectUri: 'http://127.0.0.1:9/callback',
        scopes: ['openid'],
      });
      const atCallback = await completeLogin(pending.url, { stopAtCallback: true });
      proxy.inject({ path: TOKEN, action: { kind: 'stall', ms: STALL_MS } });
      await rejection(
        exchangeCallback(protocol, pending, atCallback.callbackUrl.searchParams, { timeoutMs: 300 }),
        'timeout',
        /did not answer the token request in time/,
      );
    });
  });

  // ---------------------------------------------------------------- refresh
  describe('refresh', () => {
    let store: MemorySecretStore;
    let session: StoredSession;
    before(async () => {
      store = new MemorySecretStore();
      ({ session } = await signedIn(store));
    });

    const refreshFaults: Fault[] = [...FAULTS, { name: 'a 30 s stall (refresh timeout 500 ms)', action: { kind: 'stall', ms: STALL_MS } }];
    for (const fault of refreshFaults) {
      it(`${fault.name}: the session is kept with its tokens, then refreshed once the IdP answers`, async () => {
        const late = harness({ store, refreshSkewMs: 2 * 3600_000, refreshTimeoutMs: 500 });
        const before = (await late.manager.getSessionsWithoutRefresh())[0]!;
        // Discovery first, so that the fault hits the refresh request itself.
        await late.issuers.get(issuer);
        await apply(fault, TOKEN, 'POST');
        const during = await late.manager.getSessions(['openid']);
        assert.equal(during.length, 1, 'the session survives');
        assert.equal(during[0]!.id, session.id);
        assert.equal(during[0]!.accessToken, before.accessToken, 'with the tokens it had');
        assert.equal(during[0]!.refreshToken, before.refreshToken);
        assert.equal(late.changes.filter((c) => c.removed.length).length, 0, 'no removal announced');
        assert.equal((JSON.parse(store.data.get(late.manager.key)!) as { sessions: unknown[] }).sessions.length, 1, 'still stored');
        assert.ok(late.logs.some((l) => /Could not refresh/.test(l)), late.logs.join('\n'));
        assertNoSecrets(late.logs);
        await proxy.up();
        proxy.clear();
        const after = await late.manager.getSessions(['openid']);
        assert.equal(after.length, 1);
        assert.notEqual(after[0]!.accessToken, before.accessToken, 'refreshed once the IdP answers again');
        assert.equal(await idp.userinfoStatus(after[0]!.accessToken), 200);
      });
    }

    it('discovery failing at refresh time (fresh window, IdP down): the session is kept', async () => {
      const late = harness({ store, refreshSkewMs: 2 * 3600_000, refreshTimeoutMs: 500 });
      const before = (await late.manager.getSessionsWithoutRefresh())[0]!;
      await proxy.down();
      const during = await late.manager.getSessions(['openid']);
      assert.equal(during[0]!.accessToken, before.accessToken);
      assert.ok(late.logs.some((l) => /Could not refresh.*Could not reach/.test(l)), late.logs.join('\n'));
      await proxy.up();
      proxy.inject({ path: DISCOVERY, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
      const again = await late.manager.getSessions(['openid']);
      assert.equal(again[0]!.accessToken, before.accessToken, 'a 503 on discovery keeps it too');
      assert.equal((await late.manager.getSessions(['openid']))[0]!.id, session.id);
    });
  });

  // ---------------------------------------------------------------- device polling
  describe('device polling', () => {
    interface DeviceRun {
      delays: number[];
      beforePoll: ((n: number) => Promise<void> | void) | undefined;
      /** The flow's clock runs ahead by every wait it asked for, so expiry comes without waiting. */
      skippedMs?: number;
      requestTimeoutMs?: number;
    }

    function deviceHarness(run: DeviceRun, approve = true): CoreHarness {
      const flow = new DeviceCodeFlow({
        presenter: {
          // The person approves before the first poll, so each poll's answer is decided by the fault.
          showDeviceCode: async (info) => {
            if (approve) await completeDeviceLogin(info.verificationUriComplete!);
          },
          waitingMessage: () => 'waiting',
        },
        sleep: async (ms, signal) => {
          run.delays.push(ms);
          run.skippedMs = (run.skippedMs ?? 0) + ms;
          await sleep(2, signal);
          await run.beforePoll?.(run.delays.length);
        },
        now: () => Date.now() + (run.skippedMs ?? 0),
        requestTimeoutMs: run.requestTimeoutMs,
      });
      return harness({ flow, scopes: ['openid', 'email'] });
    }

    /** Applies `action` to the first poll only. */
    const atFirstPoll = (run: DeviceRun, action: FaultAction | 'refused') => {
      run.beforePoll = (n) => {
        if (n === 1 && action !== 'refused') proxy.inject({ path: TOKEN, action });
      };
    };

    const signIn = (h: CoreHarness, signal = new AbortController().signal) =>
      h.manager.createSession([], {
        signal,
        templates: mediaTemplates,
        strings: ENGLISH_PAGE_STRINGS,
        openBrowser: async () => undefined,
      });

    for (const fault of FAULTS.slice(0, 3)) {
      it(`${fault.name}: polling backs off and retries, and the sign-in completes`, async () => {
        const run: DeviceRun = { delays: [], beforePoll: undefined };
        const h = deviceHarness(run);
        // A poll cut off mid-answer must be one the IdP answered "pending": a cut-off success
        // spends the device code (next test).
        if (fault.name.includes('middle')) idp.injectTokenErrors.push('authorization_pending');
        run.beforePoll = async (n) => {
          if (n === 1) await apply(fault, TOKEN, 'POST');
          if (n === 2) await proxy.up();
        };
        const session = await signIn(h);
        assert.equal(session.accountLabel, 'alice@example.test');
        assert.deepEqual(run.delays, [5000, 10000], 'the RFC 8628 interval, then doubled after the network error');
        assert.ok(h.logs.some((l) => /Polling the identity provider failed .*retrying/.test(l)), h.logs.join('\n'));
        assertNoSecrets(h.logs);
      });
    }

    it('a 30 s stall of one poll: the poll times out (request timeout), polling backs off and the sign-in completes', async () => {
      // The stall outlasts this test's own timeout, so only the request timeout can end the poll.
      const run: DeviceRun = { delays: [], beforePoll: undefined, requestTimeoutMs: 300 };
      const h = deviceHarness(run);
      atFirstPoll(run, { kind: 'stall', ms: STALL_MS });
      const session = await signIn(h);
      assert.equal(session.accountLabel, 'alice@example.test');
      assert.deepEqual(run.delays, [5000, 10000], 'the RFC 8628 interval, then doubled after the timeout');
      assert.ok(h.logs.some((l) => /Polling the identity provider failed \(.*did not answer polling in time\.\); retrying/.test(l)), h.logs.join('\n'));
      assert.deepEqual(proxy.requests.filter((r) => r.path === TOKEN).slice(-2).map((r) => r.outcome), ['stall', 'forwarded']);
    });

    // Gateway errors and 503 are transient and the person may already have approved at the IdP:
    // polling backs off like after a network error, and waits longer when Retry-After says so.
    for (const fault of FAULTS.filter((f) => f.status === 502 || f.status === 503)) {
      it(`${fault.name}: polling backs off and retries, and the sign-in completes`, async () => {
        const run: DeviceRun = { delays: [], beforePoll: undefined };
        const h = deviceHarness(run);
        atFirstPoll(run, fault.action);
        const session = await signIn(h);
        assert.equal(session.accountLabel, 'alice@example.test');
        const retryAfter = fault.action !== 'refused' && fault.action.kind === 'answer' ? fault.action.headers?.['retry-after'] : undefined;
        assert.deepEqual(
          run.delays,
          [5000, retryAfter ? Number(retryAfter) * 1000 : 10000],
          'the RFC 8628 interval, then Retry-After where given, else the doubled interval',
        );
        assert.ok(h.logs.some((l) => new RegExp(`Polling the identity provider failed .*HTTP ${fault.status}.*retrying`).test(l)), h.logs.join('\n'));
        assertNoSecrets(h.logs);
      });
    }

    it('HTTP 503 on every poll: polling keeps backing off until the code expires, then says the IdP failed', async () => {
      const run: DeviceRun = { delays: [], beforePoll: undefined };
      const h = deviceHarness(run);
      proxy.inject({ path: TOKEN, method: 'POST', times: 1000, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
      const err = await rejection(signIn(h), 'network', /could not answer the device code sign-in \(HTTP 503\)/);
      assert.ok(run.delays.length > 3, `it kept polling: ${run.delays.join(', ')}`);
      assert.ok(run.delays.every((d, i) => i === 0 || d >= run.delays[i - 1]!), `never faster: ${run.delays.join(', ')}`);
      assert.ok(run.delays.every((d) => d <= 60_000), 'the wait is capped');
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
      assertNoSecrets([...h.logs, err.message]);
    });

    it('HTTP 503 with a Retry-After past the code\'s lifetime: gives up at once, naming the server error', async () => {
      const run: DeviceRun = { delays: [], beforePoll: undefined };
      const h = deviceHarness(run);
      atFirstPoll(run, { kind: 'answer', status: 503, body: HTML_PAGE, headers: { 'retry-after': '86400' } });
      await rejection(signIn(h), 'network', /could not answer the device code sign-in \(HTTP 503\)/);
      assert.deepEqual(run.delays, [5000], 'no wait of a day');
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
    });

    it('cancel while backing off after a 503: the sign-in ends at once, no further poll', async () => {
      const run: DeviceRun = { delays: [], beforePoll: undefined };
      const h = deviceHarness(run);
      const controller = new AbortController();
      proxy.inject({ path: TOKEN, method: 'POST', times: 1000, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
      run.beforePoll = (n) => {
        if (n === 3) controller.abort();
      };
      await rejection(signIn(h, controller.signal), 'cancelled', /cancelled/);
      const polls = proxy.requests.filter((r) => r.path === TOKEN).length;
      await sleep(100);
      assert.equal(proxy.requests.filter((r) => r.path === TOKEN).length, polls, 'no poll after cancel');
      assert.equal(run.delays.length, 3);
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
    });

    for (const fault of FAULTS.filter((f) => f.status === 500 || f.name.startsWith('HTTP 200'))) {
      it(`${fault.name}: the sign-in fails clearly, nothing stored`, async () => {
        const run: DeviceRun = { delays: [], beforePoll: undefined };
        const h = deviceHarness(run);
        atFirstPoll(run, fault.action);
        const err = await rejection(signIn(h), ['protocol', 'network'], /device code sign-in/);
        assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
        assertNoSecrets([...h.logs, err.message]);
      });
    }

    it('the successful poll cut off mid-answer: the code is spent at the IdP, the sign-in fails clearly', async () => {
      const run: DeviceRun = { delays: [], beforePoll: undefined };
      const h = deviceHarness(run);
      atFirstPoll(run, { kind: 'reset-mid-response' });
      const err = await rejection(signIn(h), ['idp', 'network', 'protocol'], /device code sign-in|identity provider/);
      assert.equal(run.delays.length, 2, 'retried once after the cut, then the IdP refused the spent code');
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
      assertNoSecrets([...h.logs, err.message]);
    });

    for (const fault of FAULTS.slice(0, 2)) {
      it(`${fault.name} at the device authorization request: the sign-in fails clearly`, async () => {
        const run: DeviceRun = { delays: [], beforePoll: undefined };
        const h = deviceHarness(run, false);
        // Discovery through a working proxy, then break only the device authorization request.
        await h.issuers.get(issuer);
        await apply(fault, '/device/auth', 'POST');
        await rejection(signIn(h), 'network', fault.action === 'refused' ? /Could not reach the identity provider .*ECONNREFUSED/ : /Could not reach the identity provider/);
        assert.deepEqual(run.delays, [], 'no polling without a device code');
      });
    }
  });

  // ---------------------------------------------------------------- revocation
  describe('revocation at sign-out', () => {
    for (const fault of FAULTS.filter((f) => !f.name.startsWith('HTTP 200'))) {
      it(`${fault.name}: the local session is removed anyway and revokeError says why`, async () => {
        const { h, session } = await signedIn();
        await apply(fault, REVOCATION, 'POST');
        const result = await h.manager.removeSessions([session.id]);
        assert.deepEqual(result.removed.map((s) => s.id), [session.id]);
        assert.ok(result.revokeError instanceof OidcError, 'revokeError is set');
        assert.match(result.revokeError.message, fault.action === 'refused' ? /Could not reach .*ECONNREFUSED/ : /revocation|Could not reach/);
        assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
        assert.equal((JSON.parse(h.store.data.get(h.manager.key)!) as { sessions: unknown[] }).sessions.length, 0, 'removed from storage');
        assert.equal(h.changes.at(-1)!.removed[0]!.id, session.id, 'removal announced');
        assert.ok(h.logs.some((l) => /Could not revoke/.test(l)), h.logs.join('\n'));
        assertNoSecrets([...h.logs, result.revokeError.message]);
      });
    }

    it('HTTP 200 with an HTML page: counts as revoked (RFC 7009 looks at the status only)', async () => {
      const { h, session } = await signedIn();
      proxy.inject({ path: REVOCATION, method: 'POST', action: { kind: 'answer', status: 200, body: HTML_PAGE } });
      const result = await h.manager.removeSessions([session.id]);
      assert.equal(result.revokeError, undefined);
      assert.equal(result.removed.length, 1);
      assert.equal((await idp.introspect(session.refreshToken!)).active, true, 'the IdP never saw it: the token stays valid there');
    });

    it('discovery failing at sign-out (fresh window, IdP down): removed locally, revokeError set', async () => {
      const store = new MemorySecretStore();
      const { session } = await signedIn(store);
      const other = harness({ store });
      await proxy.down();
      const result = await other.manager.removeSessions([session.id]);
      assert.equal(result.removed.length, 1);
      assert.equal(result.revokeError?.kind, 'network');
      assert.match(result.revokeError!.message, /Could not reach/);
      assert.deepEqual(await other.manager.getSessionsWithoutRefresh(), []);
    });

    it('a 30 s stall (request timeout 300 ms): revocation gives up with a timeout error', async () => {
      const { session } = await signedIn();
      const as = await discover(issuer, {}, recordingLogger([]));
      proxy.inject({ path: REVOCATION, action: { kind: 'stall', ms: STALL_MS } });
      await rejection(
        revokeToken(new ProviderProtocol({ issuer, as, client: makeClient(as, idp.clientId) }), session.refreshToken!, 'refresh_token', { timeoutMs: 300 }),
        'timeout',
        /did not answer the revocation in time/,
      );
    });
  });

  // ---------------------------------------------------------------- rotation
  describe('refresh with rotating refresh tokens', () => {
    it('a refresh answer lost mid-response: the session is kept, then lost at the next refresh (IdP reuse detection)', async () => {
      const rotProxy = await startFaultProxy();
      const rotIdp = await startTestIdp({ par: false, rotateRefreshToken: true, issuerHost: rotProxy.issuerHostFor() });
      rotProxy.setTarget(rotIdp.port);
      try {
        const make = (store: MemorySecretStore, logs: string[]) =>
          coreHarness(idpConfig(rotIdp, { scopes: ['openid', 'email'] }), { store, logs, proactiveRefresh: false, refreshSkewMs: 2 * 3600_000 }).manager;
        const store = new MemorySecretStore();
        const logs: string[] = [];
        const first = make(store, []);
        managers.push(first);
        const session = await first.createSession([], robotBrowser());
        const late = make(store, logs);
        managers.push(late);
        rotProxy.inject({ path: TOKEN, method: 'POST', action: { kind: 'reset-mid-response' } });
        const during = await late.getSessions(['openid']);
        assert.equal(during[0]?.refreshToken, session.refreshToken, 'kept after the cut-off answer');
        // The IdP rotated the refresh token when it answered; the client never saw the new one.
        const after = await late.getSessions(['openid']);
        assert.deepEqual(after, [], 'the old refresh token is refused: signed out');
        assert.ok(logs.some((l) => /refused to renew the session .*HTTP 400, invalid_grant/.test(l)), logs.join('\n'));
      } finally {
        await rotProxy.close();
        await rotIdp.close();
      }
    });
  });

  // ---------------------------------------------------------------- messages
  // A 5xx answer is a 'network' fault named by its status (describeFailure()), also where
  // discover() would otherwise say "does not look like an OpenID Connect issuer".
  describe('messages name the HTTP status of a server error', () => {
    it('503 at discovery', async () => {
      proxy.inject({ path: DISCOVERY, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
      await rejection(discover(issuer, {}, recordingLogger([])), 'network', /could not answer discovery \(HTTP 503\)\. Try again later/);
    });

    it('503 at the code exchange', async () => {
      const h = harness();
      const browser = robotBrowser(async (url) => {
        const atCallback = await completeLogin(url, { stopAtCallback: true });
        proxy.inject({ path: TOKEN, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
        const res = await fetch(atCallback.callbackUrl);
        return { callbackUrl: atCallback.callbackUrl, status: res.status, body: await res.text(), headers: res.headers };
      });
      await rejection(h.manager.createSession([], browser), 'network', /could not answer the token request \(HTTP 503\)/);
    });

    it('503 at revocation', async () => {
      const { h, session } = await signedIn();
      proxy.inject({ path: REVOCATION, action: { kind: 'answer', status: 503, body: HTML_PAGE } });
      const result = await h.manager.removeSessions([session.id]);
      assert.equal(result.revokeError?.kind, 'network');
      assert.match(result.revokeError?.message ?? '', /could not answer the revocation \(HTTP 503\)/);
    });
  });
});
