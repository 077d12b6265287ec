/**
 * Sessions of (issuer, client ID) pairs no provider uses now. Settings that move away from an
 * identity provider (another issuer, a workspace's settings) keep its sessions stored, refresh
 * tokens intact, so they come back when the settings return; Show Status lists them and Sign Out
 * offers them (which revokes at their issuer).
 *
 * Which pairs ever had sessions is kept in `clients.json` in the global storage folder, shared by
 * every window (issuer URLs and client IDs only, no secret; written under the cross-window lock).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { withFileLock } from '../core/storage/fileLock';
import type { SignInFlow } from '../core/flows/flow';
import { SessionManager } from '../core/sessions/sessionManager';
import type { StoredSession } from '../core/sessions/sessions';
import { CLIENTS_INDEX_FILE, lockFileName, storageKey } from '../core/storage/keys';
import type { ProviderDeps } from './provider';
import { VscodeSecretStore } from './secretStore';
import { sessionStorage } from './sessionStorage';

export interface KnownClient {
  issuer: string;
  clientId: string;
}

/** One pair's sessions, with the manager that can sign them out (dispose it afterwards). */
export interface StoredElsewhere extends KnownClient {
  sessions: StoredSession[];
  manager: SessionManager;
}

const noSignIn: SignInFlow = {
  id: 'loopback',
  signIn: () => Promise.reject(new Error('sessions of an identity provider not in use are only listed or signed out')),
};

function indexPath(deps: Pick<ProviderDeps, 'globalStorage'>): string {
  return path.join(deps.globalStorage.fsPath, CLIENTS_INDEX_FILE);
}

async function readIndex(file: string): Promise<KnownClient[]> {
  try {
    const parsed: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (c): c is KnownClient => typeof c === 'object' && c !== null && typeof (c as KnownClient).issuer === 'string' && typeof (c as KnownClient).clientId === 'string',
    );
  } catch {
    return [];
  }
}

/** Records that `issuer` + `clientId` has sessions (once; cheap when already recorded). */
export async function rememberClient(deps: Pick<ProviderDeps, 'globalStorage'>, client: KnownClient): Promise<void> {
  const file = indexPath(deps);
  const has = (list: KnownClient[]) => list.some((c) => c.issuer === client.issuer && c.clientId === client.clientId);
  if (has(await readIndex(file))) return;
  await withFileLock(lockFileName(file), async () => {
    const list = await readIndex(file);
    if (has(list)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify([...list, client]), { mode: 0o600 });
    await fs.rename(tmp, file);
  });
}

/** A manager for a pair no provider uses: reads its sessions and signs them out, nothing else. */
function detachedManager(deps: ProviderDeps, client: KnownClient): SessionManager {
  const store = new VscodeSecretStore(deps.secrets);
  const key = storageKey(client.issuer, client.clientId);
  return new SessionManager({
    config: { issuer: new URL(client.issuer), clientId: client.clientId, scopes: [], flow: 'auto', loopbackPort: 0 },
    store,
    storage: sessionStorage(deps, key, store),
    issuers: deps.issuers,
    flow: noSignIn,
    log: deps.log,
    onDidChange: () => undefined,
    proactiveRefresh: false,
  });
}

/** The stored sessions of every known pair whose storage key is not in `inUse`. */
export async function sessionsStoredElsewhere(deps: ProviderDeps, inUse: ReadonlySet<string>): Promise<StoredElsewhere[]> {
  const result: StoredElsewhere[] = [];
  for (const client of await readIndex(indexPath(deps))) {
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
    const result = await entry.manager.removeSessions(ids);
    if (result.revokeError) {
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'You are signed out in VS Code, but the identity provider could not be told to revoke the tokens: {0}',
          result.revokeError.message,
        ),
      );
    }
  } finally {
    entry.manager.dispose();
  }
}
