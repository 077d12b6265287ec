/**
 * Which (issuer, client ID) pairs ever had sessions: `clients.json` in the global storage folder,
 * shared by every window (issuer URLs and client IDs only, no secret; written under the
 * cross-window lock). Show Status and Sign Out read it for sessions of pairs no provider uses now
 * (storedElsewhere.ts).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { withFileLock } from '../../core/storage/fileLock';
import { CLIENTS_INDEX_FILE, lockFileName } from '../../core/storage/keys';
import type { ProviderDeps } from './source';

export interface KnownClient {
  issuer: string;
  clientId: string;
}

function indexPath(deps: Pick<ProviderDeps, 'globalStorage'>): string {
  return path.join(deps.globalStorage.fsPath, CLIENTS_INDEX_FILE);
}

/** Every pair recorded; none when the file is missing or not the list it should be. */
export async function knownClients(deps: Pick<ProviderDeps, 'globalStorage'>): Promise<KnownClient[]> {
  return readIndex(indexPath(deps));
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
