/**
 * A sign-in: the flow (loopback, URI handler, device code) with the scopes to request, the
 * account's claims (the ID token, or UserInfo when it lacks readable ones), and the new session
 * stored in place of an older one of the same account and scopes.
 */
import { randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { extraParameters, type ProviderConfig } from '../config';
import { errorMessage, OidcError } from '../errors';
import type { SignInAttempt, SignInFlow } from '../flows/flow';
import type { Logger } from '../logger';
import { scopeRejected, scopesToSend, withAccountChoice } from '../protocol/authorizationRequest';
import type { ProviderProtocol, ProviderProtocolSource } from '../protocol/providerProtocol';
import { checkTenant } from '../protocol/tenants';
import { accountLabel, idTokenFields, lacksLabelClaims, type IdTokenClaimsLike } from '../protocol/tokens';
import { tokenExpiry } from './refreshSchedule';
import { coversScopes, requestedScopes, scopeKey, uniqueScopes } from './scopes';
import type { SessionState } from './sessionState';
import type { SignInOptions } from './sessionTypes';
import type { StoredSession } from './sessions';

/** Default time a person has to finish signing in in the browser. */
export const SIGN_IN_TIMEOUT_MS = 5 * 60_000;

export interface SignInContext {
  config: ProviderConfig;
  flow: SignInFlow;
  log: Logger;
  now: () => number;
  protocols: ProviderProtocolSource;
  state: SessionState;
}

/** Signs in and stores the new session; returns it with the sessions it replaced (the caller signs those out). */
export async function signIn(ctx: SignInContext, callerScopes: readonly string[], options: SignInOptions): Promise<{ session: StoredSession; replaced: StoredSession[] }> {
  const { config, log } = ctx;
  const scopes = uniqueScopes(callerScopes.length ? callerScopes : config.scopes);
  const requested = requestedScopes(scopes, config.scopes);
  const protocol = await ctx.protocols.open({ signal: options.signal, dpop: config.dpop === true });
  const { as } = protocol;
  const sent = scopesToSend(requested, callerScopes, as, log);
  const clientAuth = protocol.clientAuth;
  const flow = options.flow ?? ctx.flow;
  const existing = (await ctx.state.load()).sessions;
  const parameters = withAccountChoice(extraParameters(config), as, existing.length > 0 || options.account !== undefined, options.account);
  log.info(
    `Signing in to ${config.issuer.href} with the ${flow.id} flow for scopes "${sent.join(' ')}"` +
      `${clientAuth.method === 'none' ? '' : ` (client authentication ${clientAuth.method})`}` +
      `${parameters.authorization.prompt ? ` (prompt=${parameters.authorization.prompt}${parameters.authorization.login_hint ? ', login_hint' : ''})` : ''}.`,
  );
  const attempt: SignInAttempt = {
    scopes: sent,
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? (config.signInTimeoutSeconds ? config.signInTimeoutSeconds * 1000 : SIGN_IN_TIMEOUT_MS),
    log,
    openBrowser: options.openBrowser,
    ...(options.report ? { report: options.report } : {}),
    authorizationParameters: parameters.authorization,
    templates: options.templates,
    strings: options.strings,
  };
  let signedIn: Awaited<ReturnType<SignInFlow['signIn']>>;
  try {
    signedIn = await flow.signIn(protocol, attempt);
  } catch (err) {
    throw err instanceof OidcError && err.oauthError === 'invalid_scope' ? scopeRejected(err, sent, as, config.scopes) : err;
  }
  const { response, claims } = signedIn;
  checkTenant(as, config.tenants, claims?.tid);
  const idClaims = await accountClaims(protocol, response.access_token, claims, options.signal, log);
  const at = ctx.now();
  const expiry = tokenExpiry(at, response.expires_in, response.access_token);
  if (expiry.note) log.warn(`Sign-in: ${expiry.note}.`);
  const granted = typeof response.scope === 'string' ? response.scope : undefined;
  if (granted !== undefined && !coversScopes(granted.split(' '), scopes)) {
    log.warn(`The identity provider granted "${granted}", fewer scopes than asked for ("${scopes.join(' ')}").`);
  }
  const session: StoredSession = {
    id: randomUUID(),
    accountId: typeof idClaims.sub === 'string' ? idClaims.sub : 'unknown',
    accountLabel: accountLabel(idClaims),
    scopes,
    requestedScopes: requested,
    accessToken: response.access_token,
    expiresAt: expiry.expiresAt,
    createdAt: at,
    tokenType: protocol.usesDPoP ? 'DPoP' : 'Bearer',
    ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
    ...(granted !== undefined ? { grantedScope: granted } : {}),
    ...idTokenFields(response.id_token, claims?.exp),
  };
  if (!session.refreshToken) {
    const seconds = Math.round((session.expiresAt - at) / 1000);
    log.info(`The identity provider issued no refresh token, so the session is used until its access token expires in ${seconds} s; then you need to sign in again.`);
  }
  const replaced = await ctx.state.update((sessions) => {
    const key = scopeKey(scopes);
    const old = sessions.filter((s) => s.accountId === session.accountId && scopeKey(s.scopes) === key);
    return { sessions: [...sessions.filter((s) => !old.includes(s)), session], result: old };
  });
  log.info(`Signed in as ${session.accountLabel}.`);
  return { session, replaced };
}

async function accountClaims(
  protocol: ProviderProtocol,
  accessToken: string,
  claims: IdTokenClaimsLike | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<IdTokenClaimsLike> {
  if (claims && !lacksLabelClaims(claims)) return claims;
  const { as, client } = protocol;
  if (!as.userinfo_endpoint) return claims ?? {};
  // Some IdPs put only `sub` in the ID token; the UserInfo endpoint has the readable claims.
  try {
    const op = { signal, timeoutMs: 10_000 };
    const info = await protocol.withNonceRetry(async () => {
      const response = await oauth.userInfoRequest(as, client, accessToken, protocol.proofRequestOptions(op));
      return oauth.processUserInfoResponse(as, client, typeof claims?.sub === 'string' ? claims.sub : oauth.skipSubjectCheck, response);
    });
    return { ...info, ...(claims ?? {}), email: info.email, preferred_username: info.preferred_username, name: info.name };
  } catch (err) {
    log.debug(`UserInfo request failed; using the ID token claims only (${errorMessage(err)}).`);
    return claims ?? {};
  }
}
