/** The Device Authorization Grant against a real oidc-provider with its device flow enabled. */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { DeviceCodeFlow, type DeviceCodeInfo } from '../../src/core/flows/deviceCode';
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/flow';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/flows/pages';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { sleep } from '../../src/core/timers';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeDeviceLogin } from '../support/loginRobot';

const templates = loadPageTemplates(path.resolve(__dirname, '../../../media'));

interface Run {
  delays: number[];
  shown: DeviceCodeInfo[];
  waiting: number;
  robot?: Promise<string>;
}

function deviceManager(idp: TestIdp, run: Run, robot: ((info: DeviceCodeInfo) => Promise<string>) | undefined) {
  const config: ProviderConfig = {
    issuer: new URL(idp.issuer),
    clientId: idp.clientId,
    scopes: ['openid', 'email', 'offline_access'],
    flow: 'deviceCode',
    loopbackPort: 0,
  };
  const flow = new DeviceCodeFlow({
    presenter: {
      showDeviceCode: async (info) => {
        run.shown.push(info);
        // The person finishes at the IdP before polling starts, so what each poll sees is decided
        // by the faults a test injects, not by timing.
        if (robot) {
          run.robot = robot(info);
          await run.robot;
        }
      },
      waitingMessage: (info) => `Waiting for you to sign in with ${info.userCode}`,
    },
    // Record what the flow asks to wait, and wait only a moment: the RFC's 5 s are checked, not slept.
    sleep: async (ms, signal) => {
      run.delays.push(ms);
      await sleep(5, signal);
    },
  });
  return new SessionManager({
    config,
    store: new MemorySecretStore(),
    issuers: new IssuerCache(silentLogger),
    flow,
    log: silentLogger,
    onDidChange: () => undefined,
  });
}

function signIn(manager: SessionManager, signal = new AbortController().signal, run?: Run) {
  return manager.createSession(['openid'], {
    signal,
    report: (message) => {
      if (run && /Waiting for you to sign in with [A-Z]{4}-[A-Z]{4}/.test(message)) run.waiting++;
    },
    templates,
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async () => undefined,
  });
}

async function rejection(p: Promise<unknown>): Promise<OidcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OidcError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

describe('device code flow against oidc-provider', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ deviceFlow: true });
  });
  after(() => idp.close());
  afterEach(() => {
    idp.injectTokenErrors.length = 0;
    idp.dropTokenRequests = 0;
  });

  it('signs in when the user enters the code at the IdP, polling at the default 5 s', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    // The user is slow: the first poll finds the authorization pending.
    idp.injectTokenErrors.push('authorization_pending');
    const manager = deviceManager(idp, run, (info) => completeDeviceLogin(info.verificationUriComplete!, { login: 'carol' }));
    const session = await signIn(manager, undefined, run);
    assert.equal(session.accountLabel, 'carol@example.test');
    assert.ok(session.refreshToken);
    assert.equal(await idp.userinfoStatus(session.accessToken), 200);
    assert.equal(run.shown.length, 1);
    assert.match(run.shown[0]!.userCode, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(run.shown[0]!.verificationUri, `${idp.issuer}/device`);
    assert.equal(run.waiting, 1);
    assert.deepEqual(run.delays, [5000, 5000]);
    assert.match(await run.robot!, /Sign-in Success/);
  });

  it('works with the plain verification URI and a typed code', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    idp.injectTokenErrors.push('authorization_pending');
    const manager = deviceManager(idp, run, (info) => completeDeviceLogin(info.verificationUri, { userCode: info.userCode }));
    const session = await signIn(manager);
    assert.equal(session.accountLabel, 'alice@example.test');
  });

  it('slows down by 5 s on slow_down and keeps the new interval', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    idp.injectTokenErrors.push('slow_down', 'authorization_pending');
    const manager = deviceManager(idp, run, (info) => completeDeviceLogin(info.verificationUriComplete!));
    await signIn(manager);
    assert.deepEqual(run.delays, [5000, 10000, 10000]);
  });

  it('backs off on network errors instead of failing, then resumes the interval', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    idp.dropTokenRequests = 2;
    const manager = deviceManager(idp, run, (info) => completeDeviceLogin(info.verificationUriComplete!));
    const session = await signIn(manager);
    assert.ok(session.accessToken);
    assert.deepEqual(run.delays, [5000, 10000, 20000]);
  });

  it('says the code expired on expired_token', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    idp.injectTokenErrors.push('expired_token');
    const err = await rejection(signIn(deviceManager(idp, run, undefined)));
    assert.equal(err.kind, 'timeout');
    assert.match(err.message, /code expired/);
  });

  it('says sign-in was denied when the user aborts at the IdP', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    const manager = deviceManager(idp, run, (info) => completeDeviceLogin(info.verificationUriComplete!, { action: 'deny' }));
    const err = await rejection(signIn(manager));
    assert.equal(err.kind, 'idp');
    assert.equal(err.oauthError, 'access_denied');
    assert.match(err.message, /denied/);
  });

  it('stops polling at once on cancel', async () => {
    const run: Run = { delays: [], shown: [], waiting: 0 };
    const controller = new AbortController();
    const manager = deviceManager(idp, run, async () => {
      setTimeout(() => controller.abort(), 30);
      return '';
    });
    // Each poll answers "pending", so only the cancel can end this sign-in.
    for (let i = 0; i < 1000; i++) idp.injectTokenErrors.push('authorization_pending');
    const calls = idp.tokenCalls.length;
    const err = await rejection(signIn(manager, controller.signal));
    assert.equal(err.kind, 'cancelled');
    // A request already on the wire may still land; after that, nothing more.
    await sleep(50);
    const afterCancel = idp.tokenCalls.length;
    const waitsAfterCancel = run.delays.length;
    await sleep(200);
    assert.equal(idp.tokenCalls.length, afterCancel, 'no poll after cancel');
    assert.equal(run.delays.length, waitsAfterCancel, 'no wait scheduled after cancel');
    assert.ok(afterCancel > calls, 'it was polling before');
  });
});

describe('device code flow without a device endpoint', () => {
  it('explains that the IdP does not support it', async () => {
    const idp = await startTestIdp();
    try {
      const err = await rejection(signIn(deviceManager(idp, { delays: [], shown: [], waiting: 0 }, undefined)));
      assert.equal(err.kind, 'protocol');
      assert.match(err.message, /device/);
    } finally {
      await idp.close();
    }
  });
});
