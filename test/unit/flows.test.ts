/** The flow chooser, the fallback between flows, and the URI-handler flow against oidc-provider. */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { ChosenFlow, chooseFlows, type FallbackNotice } from '../../src/core/flows/choose';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { ENGLISH_PAGE_STRINGS, type FlowId, type SignInFlow } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { UriCallbackRegistry, UriHandlerFlow } from '../../src/core/flows/uriHandler';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/flows/pages';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { sleep } from '../../src/core/timers';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeDeviceLogin, completeLogin } from '../support/loginRobot';

const templates = loadPageTemplates(path.resolve(__dirname, '../../../media'));
const desktop = { isWeb: false, isRemote: false };

describe('flow chooser', () => {
  it('desktop with a local extension host: loopback, then URI handler, then device code', () => {
    assert.deepEqual(chooseFlows('auto', { ...desktop, hasDeviceEndpoint: true }), ['loopback', 'uriHandler', 'deviceCode']);
  });
  it('remote windows skip the loopback (the browser cannot reach it)', () => {
    assert.deepEqual(chooseFlows('auto', { isWeb: false, isRemote: true, hasDeviceEndpoint: true }), ['uriHandler', 'deviceCode']);
  });
  it('web windows skip the loopback too', () => {
    assert.deepEqual(chooseFlows('auto', { isWeb: true, isRemote: true, hasDeviceEndpoint: true }), ['uriHandler', 'deviceCode']);
  });
  it('no device endpoint: no device code', () => {
    assert.deepEqual(chooseFlows('auto', { ...desktop, hasDeviceEndpoint: false }), ['loopback', 'uriHandler']);
  });
  it('an explicit setting is used alone', () => {
    for (const id of ['loopback', 'uriHandler', 'deviceCode'] as const) {
      assert.deepEqual(chooseFlows(id, { isWeb: true, isRemote: true, hasDeviceEndpoint: false }), [id]);
    }
  });
});

describe('flows against oidc-provider', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ deviceFlow: true });
  });
  after(() => idp.close());

  function manager(flow: SignInFlow): SessionManager {
    const config: ProviderConfig = {
      issuer: new URL(idp.issuer),
      clientId: idp.clientId,
      scopes: ['openid', 'email'],
      flow: 'auto',
      loopbackPort: 0,
    };
    return new SessionManager({
      config,
      store: new MemorySecretStore(),
      issuers: new IssuerCache(silentLogger),
      flow,
      log: silentLogger,
      onDidChange: () => undefined,
    });
  }

  /** A stand-in for VS Code's URI handler: the "browser" hands the final redirect to the registry. */
  function uriHandlerSetup(redirectUri = 'http://127.0.0.1/callback') {
    const registry = new UriCallbackRegistry();
    const flow = new UriHandlerFlow({
      redirectUri: async () => redirectUri,
      waitForCallback: (state, signal, timeoutMs) => registry.waitForCallback(state, signal, timeoutMs),
    });
    const openBrowser = async (url: URL) => {
      void completeLogin(url, { stopAtCallback: true }).then((r) => {
        // An attacker's URI with another state first: it must be ignored.
        assert.equal(registry.deliver('code=stolen&state=wrong'), false);
        assert.equal(registry.deliver(r.callbackUrl.search.slice(1)), true);
      });
    };
    return { registry, flow, openBrowser };
  }

  it('URI handler flow: validates and exchanges the code VS Code hands over', async () => {
    const { registry, flow, openBrowser } = uriHandlerSetup();
    const session = await manager(flow).createSession(['openid'], {
      signal: new AbortController().signal,
      templates,
      strings: ENGLISH_PAGE_STRINGS,
      openBrowser,
    });
    assert.equal(session.accountLabel, 'alice@example.test');
    assert.equal(registry.pendingCount, 0);
  });

  it('URI handler flow: cancel and timeout leave nothing waiting', async () => {
    const registry = new UriCallbackRegistry();
    const controller = new AbortController();
    const p = registry.waitForCallback('s1', controller.signal, 60_000);
    assert.equal(registry.pendingCount, 1);
    controller.abort();
    await assert.rejects(p, (e: unknown) => e instanceof OidcError && e.kind === 'cancelled');
    await assert.rejects(registry.waitForCallback('s2', new AbortController().signal, 20), (e: unknown) => e instanceof OidcError && e.kind === 'timeout');
    assert.equal(registry.pendingCount, 0);
    assert.equal(registry.deliver('state=s1&code=x'), false);
  });

  it('auto falls back to the next flow when the loopback port is taken, and says why', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    const notices: FallbackNotice[] = [];
    const tried: FlowId[] = [];
    const { flow: uriFlow, openBrowser } = uriHandlerSetup();
    const chosen = new ChosenFlow(
      'auto',
      desktop,
      (id) => {
        tried.push(id);
        if (id === 'loopback') return new LoopbackFlow(port);
        if (id === 'uriHandler') return uriFlow;
        throw new Error('not reached');
      },
      (n) => notices.push(n),
    );
    try {
      const session = await manager(chosen).createSession(['openid'], {
        signal: new AbortController().signal,
        templates,
        strings: ENGLISH_PAGE_STRINGS,
        openBrowser,
      });
      assert.equal(session.accountLabel, 'alice@example.test');
      assert.deepEqual(tried, ['loopback', 'uriHandler']);
      assert.equal(notices.length, 1);
      assert.equal(notices[0]!.from, 'loopback');
      assert.equal(notices[0]!.to, 'uriHandler');
      assert.match(notices[0]!.reason, new RegExp(String(port)));
    } finally {
      blocker.close();
    }
  });

  it('auto falls back to the device code when the browser cannot be opened', async () => {
    const notices: FallbackNotice[] = [];
    const chosen = new ChosenFlow(
      'auto',
      { isWeb: false, isRemote: true },
      (id) => {
        if (id === 'uriHandler') return uriHandlerSetup().flow;
        return new DeviceCodeFlow({
          presenter: {
            showDeviceCode: async (info) => {
              await completeDeviceLogin(info.verificationUriComplete!);
            },
            waitingMessage: () => 'waiting',
          },
          sleep: (_ms, signal) => sleep(5, signal),
        });
      },
      (n) => notices.push(n),
    );
    const session = await manager(chosen).createSession(['openid'], {
      signal: new AbortController().signal,
      templates,
      strings: ENGLISH_PAGE_STRINGS,
      openBrowser: async (_url, hasFallback) => {
        assert.equal(hasFallback, true);
        throw new OidcError('network', 'The browser could not be opened.', undefined, true);
      },
    });
    assert.equal(session.accountLabel, 'alice@example.test');
    assert.deepEqual(notices.map((n) => `${n.from}->${n.to}`), ['uriHandler->deviceCode']);
  });

  it('auto moves on when the IdP refuses the redirect URI (checked without PAR), before any browser opens', async () => {
    const saved = idp;
    idp = await startTestIdp({ deviceFlow: true, par: false });
    try {
      await refusedRedirectFallsBack();
    } finally {
      await idp.close();
      idp = saved;
    }
  });

  it('auto moves on when the IdP refuses the redirect URI (at the PAR endpoint), before any browser opens', () =>
    refusedRedirectFallsBack());

  async function refusedRedirectFallsBack() {
    const notices: FallbackNotice[] = [];
    let browserOpened = 0;
    const chosen = new ChosenFlow(
      'auto',
      { isWeb: true, isRemote: true },
      (id) => {
        // oidc-provider refuses this redirect URI: it is not registered for the client.
        if (id === 'uriHandler') return uriHandlerSetup('vscode://oidc-auth.oidc-auth/callback').flow;
        return new DeviceCodeFlow({
          presenter: {
            showDeviceCode: async (info) => {
              await completeDeviceLogin(info.verificationUriComplete!);
            },
            waitingMessage: () => 'waiting',
          },
          sleep: (_ms, signal) => sleep(5, signal),
        });
      },
      (n) => notices.push(n),
    );
    const session = await manager(chosen).createSession(['openid'], {
      signal: new AbortController().signal,
      templates,
      strings: ENGLISH_PAGE_STRINGS,
      openBrowser: async () => {
        browserOpened++;
      },
    });
    assert.ok(session.accessToken);
    assert.equal(browserOpened, 0);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!.reason, /refused the redirect URI vscode:\/\/oidc-auth\.oidc-auth\/callback/);
  }

  it('an explicit flow does not fall back: a taken port is an error', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    const chosen = new ChosenFlow('loopback', desktop, () => new LoopbackFlow(port), () => assert.fail('no fallback'));
    try {
      await assert.rejects(
        manager(chosen).createSession(['openid'], {
          signal: new AbortController().signal,
          templates,
          strings: ENGLISH_PAGE_STRINGS,
          openBrowser: async () => undefined,
        }),
        (e: unknown) => e instanceof OidcError && e.kind === 'port',
      );
    } finally {
      blocker.close();
    }
  });
});
