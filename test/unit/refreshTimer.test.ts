/**
 * The proactive refresh timer of SessionManager: armed once for the earliest expiry, not again
 * on every write that leaves that expiry alone (re-arming an unref'd timer made the heap grow by
 * one Node timer list per write), and never with a delay setTimeout cannot take (beyond
 * 2^31 - 1 ms it fires at once). Nothing here waits for a timer: the armed delays are recorded.
 */
import * as assert from 'node:assert/strict';
import type { ProviderConfig } from '../../src/core/config';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { serializeState, STORAGE_VERSION, type StoredSession } from '../../src/core/sessions/sessions';
import { storageKey } from '../../src/core/storage/keys';

const HOUR = 3_600_000;
/** Delays at least this long are the refresh timer's (mocha's own timers are shorter). */
const LONG = 10 * 60_000;

describe('the proactive refresh timer', () => {
  const config: ProviderConfig = {
    issuer: new URL('https://idp.invalid/'),
    clientId: 'timer-test',
    scopes: ['openid'],
    flow: 'loopback',
    loopbackPort: 0,
  };
  const key = storageKey(config.issuer.href, config.clientId);
  let armed: number[];
  let realSetTimeout: typeof setTimeout;
  let manager: SessionManager | undefined;

  beforeEach(() => {
    armed = [];
    realSetTimeout = globalThis.setTimeout;
    const recording = ((fn: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
      if ((delay ?? 0) >= LONG) armed.push(delay!);
      return realSetTimeout(fn, delay, ...args);
    }) as typeof setTimeout;
    globalThis.setTimeout = recording;
  });

  afterEach(() => {
    globalThis.setTimeout = realSetTimeout;
    manager?.dispose();
    manager = undefined;
  });

  function session(id: string, expiresAt: number): StoredSession {
    return {
      id,
      tokenType: 'Bearer',
      accountId: id,
      accountLabel: id,
      scopes: ['openid'],
      requestedScopes: ['openid'],
      accessToken: `at-${id}-${expiresAt}`,
      refreshToken: `rt-${id}`,
      expiresAt,
      createdAt: Date.now(),
    };
  }

  function start(store: MemorySecretStore): SessionManager {
    manager = new SessionManager({
      config,
      store,
      issuers: new IssuerCache(silentLogger),
      flow: new LoopbackFlow(0),
      log: silentLogger,
      onDidChange: () => undefined,
    });
    return manager;
  }

  it('is armed once while writes leave the earliest expiry alone, and again when it moves earlier', async () => {
    const store = new MemorySecretStore();
    const now = Date.now();
    let revision = 1;
    const write = (sessions: StoredSession[]) =>
      store.data.set(key, serializeState({ version: STORAGE_VERSION, revision: revision++, sessions }));
    write([session('a', now + HOUR), session('b', now + 2 * HOUR)]);
    const m = start(store);
    assert.equal((await m.getSessions()).length, 2);
    assert.equal(armed.length, 1, 'one timer for the earliest expiry');

    // Another window refreshes session b again and again: the earliest expiry (a's) stays.
    for (let i = 1; i <= 20; i++) {
      write([session('a', now + HOUR), session('b', now + 2 * HOUR + i * 1000)]);
      await m.reload();
    }
    assert.equal(armed.length, 1, 'not re-armed by writes that leave the earliest expiry alone');

    // Session a's expiry moves later: the armed timer fires early, finds nothing due, re-arms then.
    write([session('a', now + 1.5 * HOUR), session('b', now + 2 * HOUR)]);
    await m.reload();
    assert.equal(armed.length, 1, 'a later expiry keeps the armed (earlier) timer');

    // A session that expires sooner than the armed timer fires needs a new timer.
    write([session('a', now + 1.5 * HOUR), session('b', now + 2 * HOUR), session('c', now + HOUR / 2)]);
    await m.reload();
    assert.equal(armed.length, 2, 're-armed for the earlier expiry');
    const last = armed[armed.length - 1]!;
    assert.ok(last <= HOUR / 2, `armed for c's expiry (delay ${last} ms)`);
  });

  it('never asks setTimeout for more than 2^31 - 1 ms (it would fire at once, again and again)', async () => {
    const store = new MemorySecretStore();
    store.data.set(
      key,
      serializeState({ version: STORAGE_VERSION, revision: 1, sessions: [session('far', Date.now() + 60 * 24 * HOUR)] }),
    );
    const m = start(store);
    assert.equal((await m.getSessions()).length, 1);
    assert.equal(armed.length, 1);
    assert.ok(armed[0]! <= 2 ** 31 - 1, `delay ${armed[0]} ms fits setTimeout`);
    assert.ok(armed[0]! > 24 * HOUR, 'still a long wait, reached in steps');
  });
});
