/** Sign-out: the sessions removed from storage first, then their tokens revoked at the IdP. */
import { OidcError } from '../errors';
import type { Logger } from '../logger';
import type { ProviderProtocolSource } from '../protocol/providerProtocol';
import { revokeToken } from '../protocol/revocation';
import type { SessionState } from './sessionState';
import type { RemoveResult, SessionsChange } from './sessionTypes';
import type { StoredSession } from './sessions';

export interface SignOutContext {
  state: SessionState;
  protocols: ProviderProtocolSource;
  log: Logger;
  onDidChange: (change: SessionsChange) => void;
}

/** Removes sessions (by id), revoking their tokens at the IdP. Unknown ids are ignored. */
export async function signOut(ctx: SignOutContext, ids: readonly string[]): Promise<RemoveResult> {
  const removed = await ctx.state.update((sessions) => ({
    sessions: sessions.filter((s) => !ids.includes(s.id)),
    result: sessions.filter((s) => ids.includes(s.id)),
  }));
  if (removed.length === 0) return { removed };
  ctx.onDidChange({ added: [], removed, changed: [] });
  let revokeError: OidcError | undefined;
  for (const session of removed) {
    try {
      await revoke(ctx, session);
    } catch (err) {
      revokeError = err instanceof OidcError ? err : new OidcError('network', String(err));
      ctx.log.warn(`Could not revoke the tokens of ${session.accountLabel} at the identity provider: ${revokeError.message}`);
    }
  }
  return revokeError ? { removed, revokeError } : { removed };
}

/** Revokes the session's refresh token (its access token when it has none) at the IdP. */
export async function revoke(ctx: Pick<SignOutContext, 'protocols' | 'log'>, session: StoredSession): Promise<void> {
  const op = { timeoutMs: 10_000 };
  const as = await ctx.protocols.authorizationServer(op);
  if (!as.revocation_endpoint) {
    ctx.log.info('The identity provider has no revocation endpoint; the tokens stay valid there until they expire.');
    return;
  }
  const protocol = await ctx.protocols.open({ ...op, as });
  if (session.refreshToken) {
    await revokeToken(protocol, session.refreshToken, 'refresh_token', op);
  } else {
    await revokeToken(protocol, session.accessToken, 'access_token', op);
  }
  ctx.log.info(`Revoked the tokens of ${session.accountLabel} at the identity provider.`);
}
