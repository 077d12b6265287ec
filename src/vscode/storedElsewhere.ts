/**
 * Sessions of (issuer, client ID) pairs no provider uses now. Settings that move away from an
 * identity provider (another issuer, a workspace's settings) keep its sessions stored, refresh
 * tokens intact, so they come back when the settings return; Show Status lists them and Sign Out
 * offers them (which revokes at their issuer). Which pairs ever had sessions is kept by
 * sources/knownClients.ts.
 */
import type { SignInFlow } from '../core/flows/flow';
import type { SessionManager } from '../core/sessions/sessionManager';
import type { StoredSession } from '../core/sessions/sessions';
import { storageKey } from '../core/storage/keys';
import { createSessionManager } from './sources/factory';
import { signOutOf } from './sources/interactive';
import { knownClients, type KnownClient } from './sources/knownClients';
import type { ProviderDeps } from './sources/source';

export type { KnownClient } from './sources/knownClients';

/** One pair's sessions, with the manager that can sign them out (dispose it afterwards). */
export interface StoredElsewhere extends KnownClient {
  sessions: StoredSession[];
  manager: SessionManager;
}

const noSignIn: SignInFlow = {
  id: 'loopback',
  signIn: () => Promise.reject(new Error('sessions of an identity provider not in use are only listed or signed out')),
};

/** A manager for a pair no provider uses: reads its sessions and signs them out, nothing else. */
function detachedManager(deps: ProviderDeps, client: KnownClient): SessionManager {
  return createSessionManager({
    config: { issuer: new URL(client.issuer), clientId: client.clientId, scopes: [], flow: 'auto', loopbackPort: 0 },
    deps,
    flow: noSignIn,
    onDidChange: () => undefined,
  }).manager;
}

/** The stored sessions of every known pair whose storage key is not in `inUse`. */
export async function sessionsStoredElsewhere(deps: ProviderDeps, inUse: ReadonlySet<string>): Promise<StoredElsewhere[]> {
  const result: StoredElsewhere[] = [];
  for (const client of await knownClients(deps)) {
    if (inUse.has(storageKey(client.issuer, client.clientId))) continue;
    let manager: SessionManager;
    try {
      manager = detachedManager(deps, client);
    } catch {
      continue; // not a URL any more (a hand-edited file)
    }
    const sessions = await manager.getSessionsWithoutRefresh().catch(() => []);
    if (sessions.length) result.push({ ...client, sessions, manager });
    else manager.dispose();
  }
  return result;
}

/** Signs out of sessions stored for a pair not in use, revoking at its issuer; warns when it could not. */
export async function signOutElsewhere(entry: StoredElsewhere, ids: string[]): Promise<void> {
  try {
    await signOutOf(entry.manager, ids);
  } finally {
    entry.manager.dispose();
  }
}
