/**
 * Every name data is stored under, pinned to the exact string existing users' data has: a change
 * here loses their sessions, DPoP keys, client secrets or registrations. The expected values are
 * written out by hand (sha-256 of "issuer\nclientId", first 24 hex digits), never computed by the
 * code under test.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  CLIENTS_INDEX_FILE,
  clientSecretKey,
  dpopKeyName,
  fileKeySecretName,
  keyFileName,
  lockFileName,
  registrationKey,
  secretFileName,
  stateFileName,
  storageKey,
  storageKeyOf,
  TERMINAL_ACCESS_MEMENTO,
  unreadableKey,
} from '../../src/core/storage/keys';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { FileStateStore } from '../../src/core/storage/fileStateStore';

const ISSUER = 'https://idp.example/';
const CLIENT = 'vscode-client';
const SESSIONS = 'oidcAuth.sessions.ebb555cc825a6622424858fc';
/** storageKey(ISSUER, ''): what the registration key is built on. */
const NO_CLIENT = 'oidcAuth.sessions.979f2fbdb055090686f555b9';

describe('storage keys (the exact strings stored data is found by)', () => {
  it('SecretStorage keys', () => {
    assert.equal(storageKey(ISSUER, CLIENT), SESSIONS);
    assert.equal(storageKeyOf({ issuer: new URL(ISSUER), clientId: CLIENT }), SESSIONS);
    assert.equal(dpopKeyName(SESSIONS), `${SESSIONS}.dpop`);
    assert.equal(clientSecretKey({ issuer: new URL(ISSUER), clientId: CLIENT }), `${SESSIONS}.clientSecret`);
    assert.equal(registrationKey(ISSUER), `${NO_CLIENT}.registration`);
    assert.equal(fileKeySecretName(SESSIONS), `${SESSIONS}.fileKey`);
    assert.equal(unreadableKey(SESSIONS, 1700000000000), `${SESSIONS}.unreadable.1700000000000`);
  });

  it('files in the global storage folder and the memento key', () => {
    assert.equal(stateFileName(SESSIONS), `${SESSIONS}.state`);
    assert.equal(keyFileName(SESSIONS), `${SESSIONS}.key`);
    assert.equal(secretFileName(`${SESSIONS}.dpop`), `${SESSIONS}.dpop.secret`);
    assert.equal(lockFileName(SESSIONS), `${SESSIONS}.lock`);
    assert.equal(lockFileName('/g/clients.json'), '/g/clients.json.lock');
    assert.equal(CLIENTS_INDEX_FILE, 'clients.json');
    assert.equal(TERMINAL_ACCESS_MEMENTO, 'oidcAuth.terminalAccess');
  });

  it('the shared state file uses those names', () => {
    const dir = path.join(path.sep, 'global-storage');
    const { state, lock } = openSessionStorage(new MemorySecretStore(), SESSIONS, { folder: dir, browserHosted: true });
    assert.ok(state instanceof FileStateStore);
    assert.equal(state.statePath, path.join(dir, `${SESSIONS}.state`));
    assert.equal(lock.path, path.join(dir, `${SESSIONS}.lock`));
    assert.equal(state.keyPath, path.join(dir, `${SESSIONS}.key`));
  });
});
