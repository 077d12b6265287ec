/**
 * The session model and its stored form. One SecretStorage entry per provider (issuer + client
 * id) holds every session of that provider as versioned JSON; parse errors never throw past
 * `parseStoredState`.
 */
/**
 * Version of the stored form. 1: the first; 2: every session records its token type (DPoP-bound
 * tokens must keep being refreshed with proofs even if the setting changes). Older versions are
 * migrated when read and written in the current form at the next write.
 */
export const STORAGE_VERSION = 2;

/** How a session's access token must be sent: `Authorization: Bearer` or `DPoP` with a proof. */
export type TokenType = 'Bearer' | 'DPoP';

export interface StoredSession {
  id: string;
  /** The ID token's `sub`. */
  accountId: string;
  accountLabel: string;
  /** The scopes the caller asked for, as VS Code reports them on the session. */
  scopes: string[];
  /** Every scope requested at the IdP (caller's plus always-requested), for matching. */
  requestedScopes: string[];
  /** The scope the IdP said it granted, when it said. */
  grantedScope?: string;
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms. */
  expiresAt: number;
  createdAt: number;
  refreshedAt?: number;
  tokenType: TokenType;
  /**
   * The last ID token the IdP issued for the session (sign-in or refresh), for command-line
   * tools that want one (a kubeconfig's `exec` entry); absent when the IdP sent none.
   */
  idToken?: string;
  /** Epoch ms: the ID token's `exp`. */
  idTokenExpiresAt?: number;
}

export interface StoredState {
  version: typeof STORAGE_VERSION;
  /** Grows by one with every write, so the newest of several copies can be told apart. */
  revision: number;
  sessions: StoredSession[];
}

export type ParseResult = { ok: true; state: StoredState } | { ok: false; reason: string };

/** Parses what SecretStorage holds. Anything unusable is reported, never thrown. */
export function parseStoredState(raw: string | undefined): ParseResult {
  if (raw === undefined || raw === '') return { ok: true, state: emptyState() };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'stored sessions are not valid JSON' };
  }
  if (!isRecord(data)) return { ok: false, reason: 'stored sessions are not an object' };
  const migrate = MIGRATIONS.get(data.version);
  if (data.version !== STORAGE_VERSION && !migrate) {
    return { ok: false, reason: `stored sessions have unknown version ${String(data.version)}` };
  }
  if (!Array.isArray(data.sessions)) return { ok: false, reason: 'stored sessions have no session list' };
  const sessions: StoredSession[] = [];
  for (const entry of data.sessions) {
    const session = parseSession(migrate ? migrate(entry) : entry);
    if (!session) return { ok: false, reason: 'a stored session is malformed' };
    sessions.push(session);
  }
  const revision = typeof data.revision === 'number' && Number.isFinite(data.revision) ? data.revision : 0;
  return { ok: true, state: { version: STORAGE_VERSION, revision, sessions } };
}

/** Turns one stored session of an older version into the current form. */
const MIGRATIONS = new Map<unknown, (session: unknown) => unknown>([
  // Version 1 predates DPoP: every token was a Bearer token.
  [1, (session) => (isRecord(session) ? { ...session, tokenType: 'Bearer' } : session)],
]);

export function serializeState(state: StoredState): string {
  return JSON.stringify(state);
}

export function emptyState(): StoredState {
  return { version: STORAGE_VERSION, revision: 0, sessions: [] };
}

function parseSession(value: unknown): StoredSession | undefined {
  if (!isRecord(value)) return undefined;
  const { id, accountId, accountLabel, scopes, requestedScopes, grantedScope, accessToken, refreshToken, expiresAt, createdAt, refreshedAt, tokenType, idToken, idTokenExpiresAt } =
    value;
  if (typeof id !== 'string' || !id) return undefined;
  if (typeof accountId !== 'string' || typeof accountLabel !== 'string') return undefined;
  if (!isStringArray(scopes) || !isStringArray(requestedScopes)) return undefined;
  if (typeof accessToken !== 'string' || !accessToken) return undefined;
  if (refreshToken !== undefined && typeof refreshToken !== 'string') return undefined;
  if (grantedScope !== undefined && typeof grantedScope !== 'string') return undefined;
  if (typeof expiresAt !== 'number' || typeof createdAt !== 'number') return undefined;
  if (refreshedAt !== undefined && typeof refreshedAt !== 'number') return undefined;
  if (tokenType !== 'Bearer' && tokenType !== 'DPoP') return undefined;
  // An unusable ID token is dropped, not the session: it is only ever handed to command-line tools.
  const id_ = typeof idToken === 'string' && idToken && typeof idTokenExpiresAt === 'number' ? { idToken, idTokenExpiresAt } : {};
  return {
    id,
    accountId,
    accountLabel,
    scopes,
    requestedScopes,
    accessToken,
    expiresAt,
    createdAt,
    tokenType,
    ...(grantedScope !== undefined ? { grantedScope } : {}),
    ...(refreshToken !== undefined ? { refreshToken } : {}),
    ...(refreshedAt !== undefined ? { refreshedAt } : {}),
    ...id_,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
