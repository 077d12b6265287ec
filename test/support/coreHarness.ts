/**
 * The SessionManager the core tests sign in with: the real manager over an in-memory secret
 * store, the loopback flow on a free port and the login robot as the "browser".
 */
import type { ProviderConfig } from '../../src/core/config';
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/flows/pages';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager, type SessionManagerOptions, type SignInOptions } from '../../src/core/sessions/sessionManager';
import { completeLogin } from './loginRobot';

/** A manager for `config` with proactive refresh off; `overrides` replace any option. */
export function testManager(config: ProviderConfig, overrides: Partial<SessionManagerOptions> = {}): SessionManager {
  return new SessionManager({
    config,
    store: new MemorySecretStore(),
    issuers: new IssuerCache(silentLogger),
    flow: new LoopbackFlow(0),
    log: silentLogger,
    onDidChange: () => undefined,
    proactiveRefresh: false,
    ...overrides,
  });
}

/** Sign-in options whose browser is the login robot, logging in as `login`. */
export function robotSignIn(login = 'alice'): SignInOptions {
  return {
    signal: new AbortController().signal,
    templates: loadPageTemplates(undefined),
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => void completeLogin(url, { login }),
  };
}
