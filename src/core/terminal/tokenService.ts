/**
 * What the terminal channel answers: a fresh token of a provider's session for a command-line
 * tool, behind the user's consent. Refreshes go through the session manager's single-flight,
 * cross-window refresh, so 50 tools asking at once spend the refresh token once. No `vscode`:
 * the window supplies consent and sign-in.
 */
import { errorMessage, OidcError } from '../errors';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import { coversScopes } from '../sessions/scopes';
import type { SessionManager } from '../sessions/sessionManager';
import { dueAt } from '../sessions/refreshSchedule';
import type { StoredSession } from '../sessions/sessions';
import { jwtNumericClaim } from '../protocol/tokens';
import type { FailureCode, TokenRequest, TokenResponse } from './protocol';


export interface TerminalProvider {
  readonly id: string;
  readonly label: string;
  /** The provider's sessions; undefined when it has no sign-in (not configured, service account, injected token). */
  readonly sessions: SessionManager | undefined;
}

export interface TerminalTokenDeps {
  provider(id: string): TerminalProvider | undefined;
  /** Whether the user lets command-line tools use this account's session; asks at most once at a time. */
  consent(provider: TerminalProvider, session: StoredSession): Promise<boolean>;
  /** Starts the usual sign-in in the window (for `--sign-in`); resolves with the new session. */
  signIn(provider: TerminalProvider, scopes: readonly string[]): Promise<StoredSession | undefined>;
  log: Logger;
  now?: () => number;
  /** How long before its expiry an ID token is renewed (default: as access tokens, half of min(60 s, a tenth of its lifetime)). */
  idTokenSkewMs?: number;
}

/** A failure that is answered as such (never a thrown error reaching the socket). */
class Refusal extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
  }
}

export async function serveTokenRequest(request: TokenRequest, deps: TerminalTokenDeps): Promise<TokenResponse> {
  const what = `${request.kind === 'id' ? 'ID' : 'access'} token of ${request.provider}${request.scopes.length ? ` for "${request.scopes.join(' ')}"` : ''}`;
  try {
    const session = await tokenFor(request, deps);
    const token = request.kind === 'id' ? session.idToken! : session.accessToken;
    const expiresAt = request.kind === 'id' ? session.idTokenExpiresAt! : session.expiresAt;
    deps.log.info(`Terminal: handed the ${what} of ${session.accountLabel} to a command-line tool.`);
    return { ok: true, token, expiresAt, tokenType: request.kind === 'id' ? 'Bearer' : session.tokenType, account: session.accountLabel };
  } catch (err) {
    const answer = failure(err);
    deps.log.info(`Terminal: no ${what} for a command-line tool (${answer.code}): ${answer.message}`);
    return answer;
  }
}

async function tokenFor(request: TokenRequest, deps: TerminalTokenDeps): Promise<StoredSession> {
  const provider = deps.provider(request.provider);
  if (!provider) throw new Refusal('noSuchProvider', l10n.t('There is no authentication provider "{0}" in this window (see oidcAuth.providers).', request.provider));
  const manager = provider.sessions;
  if (!manager) {
    throw new Refusal('notConfigured', l10n.t('{0} ({1}) has no sign-in configured in this window (or serves a service account or an injected token, which command-line tools cannot use).', provider.label, provider.id));
  }
  let session = await pick(manager, request.scopes);
  if (!session) {
    if (!request.signIn) throw new Refusal('notSignedIn', notSignedIn(provider, request.scopes));
    deps.log.info(`Terminal: a command-line tool asked to sign in to ${provider.id}.`);
    session = await deps.signIn(provider, request.scopes);
    if (!session) throw new Refusal('notSignedIn', notSignedIn(provider, request.scopes));
  }
  if (!(await deps.consent(provider, session))) {
    throw new Refusal('consentDenied', l10n.t('Command-line tools may not use the {0} session of {1}: it was not allowed in the VS Code window.', provider.label, session.accountLabel));
  }
  let fresh = await manager.freshSession(session.id);
  if (!fresh) throw new Refusal('notSignedIn', l10n.t('The {0} session of {1} was signed out.', provider.label, session.accountLabel));
  if (request.kind === 'id') {
    if (!fresh.idToken && !fresh.refreshToken) throw new Refusal('noIdToken', l10n.t('The identity provider issued no ID token for the {0} session of {1} (is "openid" among the scopes?).', provider.label, session.accountLabel));
    if (idTokenDue(fresh, deps)) {
      // The access token may live longer than the ID token: refresh for a new ID token, through
      // the same single-flight refresh (a caller whose token is already newer gets it unspent).
      fresh = await manager.freshSession(session.id, fresh.accessToken);
      if (!fresh) throw new Refusal('notSignedIn', l10n.t('The {0} session of {1} was signed out.', provider.label, session.accountLabel));
      if (!fresh.idToken || fresh.idTokenExpiresAt! <= (deps.now ?? Date.now)()) {
        throw new Refusal('noIdToken', l10n.t('The identity provider issued no fresh ID token when renewing the {0} session of {1}; sign in again for one.', provider.label, session.accountLabel));
      }
    }
  }
  return fresh;
}

/** The newest session covering `scopes` (any session when empty), looking at storage once more before saying none. */
async function pick(manager: SessionManager, scopes: readonly string[]): Promise<StoredSession | undefined> {
  const find = (all: StoredSession[]) =>
    all.filter((s) => coversScopes(s.requestedScopes, scopes)).sort((a, b) => b.createdAt - a.createdAt)[0];
  const found = find(await manager.getSessionsWithoutRefresh());
  if (found) return found;
  await manager.reload();
  return find(await manager.getSessionsWithoutRefresh());
}

/**
 * Whether the session's ID token must be renewed before it is handed out: missing, or due by the
 * rule access tokens follow (refreshSchedule.ts), its lifetime read from its own `iat`.
 */
function idTokenDue(session: StoredSession, deps: TerminalTokenDeps): boolean {
  if (!session.idToken || session.idTokenExpiresAt === undefined) return true;
  const iat = jwtNumericClaim(session.idToken, 'iat');
  const issuedAt = iat !== undefined ? iat * 1000 : session.refreshedAt ?? session.createdAt;
  return (deps.now ?? Date.now)() >= dueAt({ issuedAt, expiresAt: session.idTokenExpiresAt }, deps.idTokenSkewMs);
}

function notSignedIn(provider: TerminalProvider, scopes: readonly string[]): string {
  return scopes.length
    ? l10n.t('Not signed in to {0} with the scopes "{1}" in this window (oidc-token --sign-in signs in).', provider.label, scopes.join(' '))
    : l10n.t('Not signed in to {0} in this window (oidc-token --sign-in signs in).', provider.label);
}

function failure(err: unknown): TokenResponse & { ok: false } {
  if (err instanceof Refusal) return { ok: false, code: err.code, message: err.message };
  if (err instanceof OidcError) {
    if (err.kind === 'cancelled') return { ok: false, code: 'notSignedIn', message: l10n.t('The sign-in was cancelled: {0}', err.message) };
    if (err.kind === 'network' || err.kind === 'timeout' || err.reason === 'unreachable') return { ok: false, code: 'unreachable', message: err.message };
    return { ok: false, code: 'failed', message: err.message };
  }
  return { ok: false, code: 'failed', message: errorMessage(err) };
}
