/**
 * What the setup wizard says about an issuer before it saves anything: can it be reached, is it
 * an OpenID Connect / OAuth issuer, and does it offer what sign-in needs.
 */
import type * as oauth from 'oauth4webapi';
import type { FlowSetting } from '../config';
import { parseIssuer } from '../config';
import { OidcError } from '../errors';
import { discover } from './discovery';
import { silentLogger } from '../logger';
import { l10n } from '../l10n';

export interface IssuerReport {
  issuer: URL;
  /** Problems that stop sign-in; empty when it can work. */
  problems: string[];
  /** Worth knowing, not blocking. */
  notes: string[];
  metadata?: oauth.AuthorizationServer;
}

export async function checkIssuer(raw: string, flow: FlowSetting, signal?: AbortSignal): Promise<IssuerReport> {
  let issuer: URL;
  try {
    issuer = parseIssuer(raw);
  } catch (err) {
    return { issuer: new URL('https://invalid.invalid'), problems: [(err as OidcError).message], notes: [] };
  }
  let as: oauth.AuthorizationServer;
  try {
    as = await discover(issuer, { timeoutMs: 10_000, ...(signal ? { signal } : {}) }, silentLogger);
  } catch (err) {
    return { issuer, problems: [err instanceof OidcError ? err.message : String(err)], notes: [] };
  }
  const problems: string[] = [];
  const notes: string[] = [];
  if (!as.authorization_endpoint && flow !== 'deviceCode') problems.push(l10n.t('It has no authorization endpoint, so browser sign-in cannot work.'));
  if (!as.token_endpoint) problems.push(l10n.t('It has no token endpoint.'));
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) problems.push(l10n.t('It does not support PKCE with S256, which sign-in requires.'));
  if (!Array.isArray(methods)) notes.push(l10n.t('It does not say whether it supports PKCE; most identity providers do.'));
  if (!as.device_authorization_endpoint) {
    if (flow === 'deviceCode') problems.push(l10n.t('It has no device authorization endpoint, so the device code flow cannot work.'));
    else notes.push(l10n.t('It offers no device code flow, so remote windows need the vscode:// redirect registered.'));
  }
  if (!as.revocation_endpoint) notes.push(l10n.t('It has no revocation endpoint: sign-out cannot revoke tokens there.'));
  if (as.pushed_authorization_request_endpoint) notes.push(l10n.t('It supports pushed authorization requests (used automatically).'));
  return { issuer, problems, notes, metadata: as };
}
