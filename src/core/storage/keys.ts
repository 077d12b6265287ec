/**
 * Every name the extension keeps data under: SecretStorage keys, files in the global storage
 * folder and the memento key. Existing users' data is found by these exact strings, so changing
 * one loses it; test/unit/storageKeys.test.ts pins each. Nothing else invents a key or a suffix.
 */
import { createHash } from 'node:crypto';

/** The SecretStorage key of a provider's sessions: stable for one issuer + client id, distinct otherwise. */
export function storageKey(issuer: string, clientId: string): string {
  const digest = createHash('sha256').update(`${issuer}\n${clientId}`).digest('hex').slice(0, 24);
  return `oidcAuth.sessions.${digest}`;
}

/** Where stored sessions that could not be read are set aside (`at`: epoch ms), never destroyed. */
export function unreadableKey(sessionsKey: string, at: number): string {
  return `${sessionsKey}.unreadable.${at}`;
}

/** The SecretStorage key of a provider's DPoP key, next to its sessions' key. */
export function dpopKeyName(sessionsKey: string): string {
  return `${sessionsKey}.dpop`;
}

/** A provider's issuer and client id, whose sessions key names everything else it stores. */
export interface StoredClient {
  issuer: URL;
  clientId: string;
}

/** `storageKey` of a provider's settings. */
export function storageKeyOf(client: StoredClient): string {
  return storageKey(client.issuer.href, client.clientId);
}

/** The SecretStorage key of the client secret of this issuer and client id. */
export function clientSecretKey(client: StoredClient): string {
  return `${storageKeyOf(client)}.clientSecret`;
}

/** The SecretStorage key of a dynamically registered client, per issuer. */
export function registrationKey(issuer: string): string {
  return `${storageKey(issuer, '')}.registration`;
}

/** The SecretStorage key of the key the shared state file `name` is encrypted with. */
export function fileKeySecretName(name: string): string {
  return `${name}.fileKey`;
}

/** In the global storage folder: the shared state file of `name` (a sessions key). */
export function stateFileName(name: string): string {
  return `${name}.state`;
}

/** In the global storage folder: the state file's encryption key, for browser-hosted windows. */
export function keyFileName(name: string): string {
  return `${name}.key`;
}

/** In the global storage folder: a secret every window shares (a DPoP key), encrypted. */
export function secretFileName(name: string): string {
  return `${name}.secret`;
}

/** The lock file that guards `base` (a state name or a file path). */
export function lockFileName(base: string): string {
  return `${base}.lock`;
}

/** In the global storage folder: every issuer + client id that has had sessions here. */
export const CLIENTS_INDEX_FILE = 'clients.json';

/** The global memento key of the person's answer about terminal access. */
export const TERMINAL_ACCESS_MEMENTO = 'oidcAuth.terminalAccess';
