/**
 * The extension's code set up the way the extension sets it up, for the plain-Node measurements:
 * the core SessionManager over a SecretStorage-like map and the shared state folder (as
 * src/vscode/provider.ts configures it), or the real provider class on the `vscode` shim, and a
 * browser played by test/support/loginRobot.ts against test/support/idp.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { ENGLISH_PAGE_STRINGS, loadPageTemplates, type PageTemplates } from '../../src/core/flows/pages';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager, type SignInOptions } from '../../src/core/sessions/sessionManager';
import { type StoredSession } from '../../src/core/sessions/sessions';
import { storageKey } from '../../src/core/storage/keys';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { completeLogin } from '../../test/support/loginRobot';
import { startStoreServer } from '../../test/support/storeServer';
import type { WindowTask } from '../../test/support/windowProcess';
import { repoRoot } from './common';

/** The scopes the extension requests by default (package.json `oidcAuth.scopes`). */
export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

let templates: PageTemplates | undefined;
export function pageTemplates(): PageTemplates {
  return (templates ??= loadPageTemplates(path.join(repoRoot, 'media')));
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `oidc-auth-bench-${prefix}-`));
}

export interface CoreOptions {
  issuer: string;
  clientId: string;
  now?: () => number;
  proactiveRefresh?: boolean;
  /** A shared state folder (default: a new temp folder, as every real window has one); `false`: none. */
  sharedDir?: string | false;
  issuers?: IssuerCache;
}

export interface Core {
  manager: SessionManager;
  store: MemorySecretStore;
  /** '' when there is none. */
  sharedDir: string;
  dispose(): void;
}

/** A SessionManager configured as the provider configures one. */
export function coreManager(o: CoreOptions): Core {
  const config: ProviderConfig = {
    issuer: new URL(o.issuer),
    clientId: o.clientId,
    scopes: DEFAULT_SCOPES,
    flow: 'loopback',
    loopbackPort: 0,
  };
  const store = new MemorySecretStore();
  const sharedDir = o.sharedDir === false ? '' : (o.sharedDir ?? tempDir('shared'));
  const manager = new SessionManager({
    config,
    store,
    ...(sharedDir ? { storage: openSessionStorage(store, storageKey(config.issuer.href, config.clientId), { folder: sharedDir }) } : {}),
    issuers: o.issuers ?? new IssuerCache(silentLogger),
    flow: new LoopbackFlow(0),
    log: silentLogger,
    onDidChange: () => undefined,
    ...(o.now ? { now: o.now } : {}),
    ...(o.proactiveRefresh !== undefined ? { proactiveRefresh: o.proactiveRefresh } : {}),
  });
  return {
    manager,
    store,
    sharedDir,
    dispose: () => {
      manager.dispose();
      if (o.sharedDir === undefined) fs.rmSync(sharedDir, { recursive: true, force: true });
    },
  };
}

/**
 * Sign-in options whose browser is the login robot. With `onCallback`, the robot stops at the
 * redirect back to the extension, calls `onCallback()` (the benchmark's clock starts there) and
 * then requests the callback URL, as the browser would.
 */
export function robotOptions(login = 'alice', onCallback?: () => void): SignInOptions {
  return {
    signal: new AbortController().signal,
    templates: pageTemplates(),
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => {
      void (async () => {
        const r = await completeLogin(url, { login, stopAtCallback: true });
        onCallback?.();
        const res = await fetch(r.callbackUrl);
        await res.arrayBuffer();
      })().catch(() => undefined);
    },
  };
}

export async function signIn(core: Core, scopes: string[] = ['openid'], login = 'alice'): Promise<StoredSession> {
  return core.manager.createSession(scopes, robotOptions(login));
}

/**
 * Signs in once (alice, scope openid) in a manager that then goes away, and runs `fn` with the
 * window task of a desktop window over a SecretStorage server holding that session and the
 * shared folder beside it, for window processes to start from; both are removed afterwards.
 */
export type DesktopWindow = Pick<WindowTask, 'issuer' | 'clientId' | 'sharedDir' | 'mode' | 'storeUrl'>;
export async function withSignedInStore<T>(
  o: { issuer: string; clientId: string; prefix: string; now?: () => number },
  fn: (desktop: DesktopWindow) => Promise<T>,
): Promise<T> {
  const sharedDir = tempDir(o.prefix);
  const core = coreManager({ issuer: o.issuer, clientId: o.clientId, sharedDir, proactiveRefresh: false, ...(o.now ? { now: o.now } : {}) });
  try {
    await signIn(core, ['openid']);
    core.manager.dispose();
    const server = await startStoreServer(core.store.data);
    try {
      return await fn({ issuer: o.issuer, clientId: o.clientId, sharedDir, mode: 'desktop', storeUrl: server.url });
    } finally {
      await server.close();
    }
  } finally {
    fs.rmSync(sharedDir, { recursive: true, force: true });
  }
}
