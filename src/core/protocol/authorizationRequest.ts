/**
 * What a sign-in asks the IdP for, fitted to what its discovery document says it supports:
 * the scopes (a default scope it does not list is left out), and, when the person adds an
 * account, a prompt to choose one and a hint naming it.
 */
import type * as oauth from 'oauth4webapi';
import { OidcError, ScopeRejectedError } from '../errors';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import { uniqueScopes } from '../sessions/scopes';

/**
 * The scopes to send. Scopes a calling extension asked for go as asked. The provider's own
 * (`oidcAuth.scopes`, added to every sign-in) are left out when the IdP publishes
 * `scopes_supported` without them: `offline_access` is refused with `invalid_scope` by Google,
 * GitLab and Amazon Cognito, which list the scopes they support and leave it out.
 */
export function scopesToSend(requested: readonly string[], callerScopes: readonly string[], as: oauth.AuthorizationServer, log: Logger): string[] {
  const supported = as.scopes_supported;
  if (!Array.isArray(supported)) return [...requested];
  const asked = new Set(uniqueScopes(callerScopes));
  const known = new Set(supported);
  const dropped = requested.filter((s) => !asked.has(s) && !known.has(s));
  if (dropped.length) {
    log.info(`Not requesting ${dropped.join(', ')}: the identity provider's scopes_supported does not list ${dropped.length > 1 ? 'them' : 'it'}.`);
  }
  return requested.filter((s) => !dropped.includes(s));
}

/**
 * An `invalid_scope` answer, naming the scopes most likely at fault: those `scopes_supported`
 * leaves out, else those beyond the provider's own scopes (`ownScopes`, which its sign-ins send
 * every time), else every scope sent but `openid`. Never read from the message, which may be
 * translated.
 */
export function scopeRejected(err: OidcError, sent: readonly string[], as: oauth.AuthorizationServer, ownScopes: readonly string[] = []): ScopeRejectedError {
  const supported = Array.isArray(as.scopes_supported) ? new Set(as.scopes_supported) : undefined;
  const own = new Set(ownScopes);
  let suspects = supported ? sent.filter((s) => !supported.has(s)) : [];
  if (!suspects.length) suspects = sent.filter((s) => s !== 'openid' && !own.has(s));
  if (!suspects.length) suspects = sent.filter((s) => s !== 'openid');
  const error = new ScopeRejectedError(
    suspects,
    l10n.t('The identity provider refused the scope {0} (invalid_scope). Remove it from the scopes setting, or ask its administrator to allow it for this client.', suspects.join(' ')),
  );
  error.cause = err;
  return error;
}

/** The prompt value asking the person to choose an account, among those the IdP supports. */
export function accountPrompt(as: oauth.AuthorizationServer): string | undefined {
  const values = as.prompt_values_supported;
  // OIDC Core §3.1.2.1 defines select_account; an IdP that lists its prompts without it gets login.
  if (!Array.isArray(values)) return 'select_account';
  if (values.includes('select_account')) return 'select_account';
  if (values.includes('login')) return 'login';
  return undefined;
}

/**
 * Adds `prompt` (and `login_hint` for a known account) when the person adds an account, so the
 * browser's current single-sign-on account does not come back unasked. A prompt the settings
 * already send (Google's `consent`) is kept beside it.
 */
export function withAccountChoice(
  parameters: { authorization: Record<string, string>; token: Record<string, string> },
  as: oauth.AuthorizationServer,
  addingAccount: boolean,
  account: { id: string; label: string } | undefined,
): { authorization: Record<string, string>; token: Record<string, string> } {
  if (!addingAccount) return parameters;
  const authorization = { ...parameters.authorization };
  const prompt = accountPrompt(as);
  if (prompt) authorization.prompt = uniqueScopes([authorization.prompt ?? '', prompt]).join(' ');
  // The label is the email or user name the IdP gave; a display name with spaces is no hint.
  if (account && !/\s/.test(account.label) && account.label !== '') authorization.login_hint = account.label;
  return { ...parameters, authorization };
}
