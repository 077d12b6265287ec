/**
 * The SessionManager the core tests sign in with: the real manager over an in-memory secret
 * store, the loopback flow on a free port and a scripted "browser" (the login robot by default).
 * Every core suite builds its manager here; what differs between suites (the IdP, the flow, the
 * refresh options) is passed in.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { ENGLISH_PAGE_STRINGS, loadPageTemplates } from '../../src/core/flows/pages';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import {
  SessionManager,
  type SessionManagerOptions,
  type SessionsChange,
  type SignInOptions,
} from '../../src/core/sessions/sessionManager';
import { completeLogin, type RobotResult } from './loginRobot';
import { recordingLogger } from './tokenLedger';

/** The extension's own page templates (media/page.html). */
export const mediaTemplates = loadPageTemplates(path.resolve(__dirname, '../../../media'));

/** A loopback-flow provider for `idp`'s test client with the full default scopes; `overrides` replace any field. */
export function idpConfig(idp: { issuer: string | URL; clientId: string }, overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    issuer: new URL(idp.issuer),
    clientId: idp.clientId,
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    flow: 'loopback',
    loopbackPort: 0,
    ...overrides,
  };
}

/** A manager for `config` with proactive refresh off; `overrides` replace any option. */
export function testManager(config: ProviderConfig, overrides: Partial<SessionManagerOptions> = {}): SessionManager {
  return new SessionManager({
    config,
    store: new MemorySecretStore(),
    issuers: new IssuerCache(silentLogger),
    flow: new LoopbackFlow(config.loopbackPort),
    log: silentLogger,
    onDidChange: () => undefined,
    proactiveRefresh: false,
    ...overrides,
  });
}

/** A manager and what a test reads around it: its store, its issuer cache, its change events and log lines. */
export interface CoreHarness {
  manager: SessionManager;
  store: MemorySecretStore;
  issuers: IssuerCache;
  changes: SessionsChange[];
  logs: string[];
}

export type HarnessOptions = Partial<Omit<SessionManagerOptions, 'config' | 'store' | 'onDidChange'>> & {
  store?: MemorySecretStore;
  /** Where the log lines go (a fresh array by default); ignored when `log` is given. */
  logs?: string[];
};

/**
 * A manager for `config` that records its change events and (through the token ledger's
 * recording logger) its log lines. Unlike testManager, the manager's own defaults hold, proactive
 * refresh on; `options` replace any option.
 */
export function coreHarness(config: ProviderConfig, options: HarnessOptions = {}): CoreHarness {
  const { store = new MemorySecretStore(), logs = [], ...overrides } = options;
  const changes: SessionsChange[] = [];
  const log = overrides.log ?? recordingLogger(logs);
  const issuers = overrides.issuers ?? new IssuerCache(log);
  const manager = testManager(config, {
    store,
    issuers,
    log,
    onDidChange: (c) => changes.push(c),
    proactiveRefresh: true,
    ...overrides,
  });
  return { manager, store, issuers, changes, logs };
}

/** Sign-in options around `openBrowser` as it is (the extension's page templates, English strings). */
export function signInWith(openBrowser: SignInOptions['openBrowser'], signal = new AbortController().signal): SignInOptions {
  return { signal, templates: mediaTemplates, strings: ENGLISH_PAGE_STRINGS, openBrowser };
}

/**
 * Sign-in options whose "browser" is `open`. Its failure does not fail the sign-in (that then
 * times out or is refused); `result()` is what `open` returned, or its failure.
 */
export function scriptedBrowser<T>(open: (url: URL) => Promise<T>, signal?: AbortSignal): SignInOptions & { result: () => Promise<T> } {
  let run: Promise<T> | undefined;
  const openBrowser = async (url: URL) => {
    run = open(url);
    run.catch(() => undefined);
  };
  return { ...signInWith(openBrowser, signal), result: () => run ?? Promise.reject(new Error('browser never opened')) };
}

/** Sign-in options whose "browser" is the HTTP login robot (oidc-provider's login and consent pages). */
export function robotBrowser(
  robot: (url: URL) => Promise<RobotResult> = (url) => completeLogin(url),
  signal?: AbortSignal,
): SignInOptions & { result: () => Promise<RobotResult> } {
  return scriptedBrowser(robot, signal);
}

/** Sign-in options whose browser is the login robot, logging in as `login` (the fallback page templates). */
export function robotSignIn(login = 'alice'): SignInOptions {
  return {
    signal: new AbortController().signal,
    templates: loadPageTemplates(undefined),
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => void completeLogin(url, { login }),
  };
}

/** True when nothing accepts a TCP connection on `host`:`port` (refused, or no answer within 2 s). */
export function portIsClosed(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host, timeout: 2_000 });
    const settle = (closed: boolean) => () => {
      socket.destroy();
      resolve(closed);
    };
    socket.once('connect', settle(false)).once('error', settle(true)).once('timeout', settle(true));
  });
}

/**
 * The server a describe block shares (an IdP, a proxy): `start` runs before its first test and
 * hands the server to `keep`; `afterEachTest` runs after each test; the server is closed after the last.
 */
export function sharedServer<T extends { close(): unknown }>(start: () => Promise<T>, keep: (server: T) => void, afterEachTest?: (server: T) => void): void {
  let server: T | undefined;
  before(async () => {
    server = await start();
    keep(server);
  });
  after(() => server?.close());
  if (afterEachTest) afterEach(() => server && afterEachTest(server));
}

/** Runs `test` with what `open` started (an IdP, a server), closing it after, pass or fail. */
export async function withOpen<T extends { close(): unknown }>(open: () => Promise<T>, test: (server: T) => Promise<void>): Promise<void> {
  const server = await open();
  try {
    await test(server);
  } finally {
    await server.close();
  }
}
