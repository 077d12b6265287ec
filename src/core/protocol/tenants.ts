/**
 * Issuers whose discovery document names another issuer than the URL it was fetched from, where
 * that is the IdP's documented design rather than a mix-up:
 *
 * - Microsoft Entra ID's multi-tenant endpoints (`…/common/v2.0`, `…/organizations/v2.0`) publish
 *   `"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"`: each ID token's `iss` is that
 *   template filled with the token's own `tid`
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc), and `consumers`
 *   publishes the fixed issuer of the personal-accounts tenant.
 * - Azure AD B2C policy URLs (`…/<tenant>.onmicrosoft.com/B2C_1_<policy>/v2.0`) publish the
 *   tenant's issuer (`…/<tenant id>/v2.0/`).
 *
 * openid-client v6 accepts these by host name (login.microsoftonline.com, *.b2clogin.com) and
 * fills the template with whatever `tid` the token names. Here the rule is the URL shape instead
 * (so custom B2C domains work), the other issuer must be on the same origin, and the provider may
 * list the tenants it accepts: without such a list any tenant's account signs in, which is what
 * `common` means. Every other mismatch stays refused, and single-tenant issuers stay exact.
 */
import * as oauth from 'oauth4webapi';
import { TenantRejectedError } from '../errors';
import { l10n } from '../l10n';

export const TENANT_PLACEHOLDER = '{tenantid}';

export type IssuerMatch =
  | { kind: 'exact' }
  /** ID tokens carry the template filled with their `tid`. */
  | { kind: 'tenantTemplate'; template: string }
  /** ID tokens carry this issuer, which differs from the configured URL (B2C, Entra consumers). */
  | { kind: 'alias'; issuer: string };

const ENTRA_MULTI_TENANT = /^\/(common|organizations|consumers)\/v2\.0$/i;
const ENTRA_TENANT_ISSUER = /^\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/v2\.0$/i;
/** Stands for the template's placeholder while the URL's shape is checked. */
const SOME_TENANT = '00000000-0000-0000-0000-000000000000';
/** B2C user flows are named B2C_1_…, custom policies B2C_1A_… */
const B2C_POLICY = /\/b2c_1a?_[^/]+(\/|$)/i;
/** What a `tid` may look like before it goes into an issuer URL. */
const TENANT_ID = /^[0-9A-Za-z][0-9A-Za-z.-]{0,99}$/;

/** How the discovered `issuer` relates to the configured one; undefined when it may not be used. */
export function matchDiscoveredIssuer(configured: URL, discovered: string): IssuerMatch | undefined {
  const hasTemplate = discovered.includes(TENANT_PLACEHOLDER);
  let url: URL;
  try {
    url = new URL(discovered.replace(TENANT_PLACEHOLDER, SOME_TENANT));
  } catch {
    return undefined;
  }
  if (!hasTemplate && url.href === configured.href) return { kind: 'exact' };
  if (url.origin !== configured.origin) return undefined;
  const configuredPath = configured.pathname.replace(/\/+$/, '');
  const discoveredPath = url.pathname.replace(/\/+$/, '');
  if (ENTRA_MULTI_TENANT.test(configuredPath) && ENTRA_TENANT_ISSUER.test(discoveredPath)) {
    return hasTemplate ? { kind: 'tenantTemplate', template: discovered } : { kind: 'alias', issuer: discovered };
  }
  if (B2C_POLICY.test(configuredPath) && !hasTemplate) return { kind: 'alias', issuer: discovered };
  return undefined;
}

/** The issuer an ID token from tenant `tid` must carry. */
export function tenantIssuer(template: string, tid: unknown): string {
  if (typeof tid !== 'string' || !TENANT_ID.test(tid)) {
    throw new TenantRejectedError(undefined, l10n.t('The ID token names no valid tenant (tid), so its issuer cannot be checked.'));
  }
  return template.replace(TENANT_PLACEHOLDER, tid);
}

/**
 * The tenant an issuer names, when it is the template filled with a tenant id (the callback's
 * `iss`, RFC 9207, of a multi-tenant sign-in); undefined when it has another shape.
 */
export function tenantOfIssuer(template: string, issuer: string): string | undefined {
  const at = template.indexOf(TENANT_PLACEHOLDER);
  if (at < 0) return undefined;
  const before = template.slice(0, at);
  const after = template.slice(at + TENANT_PLACEHOLDER.length);
  if (!issuer.startsWith(before) || !issuer.endsWith(after) || issuer.length <= before.length + after.length) return undefined;
  const tenant = issuer.slice(before.length, issuer.length - after.length);
  return TENANT_ID.test(tenant) ? tenant : undefined;
}

/**
 * What oauth4webapi's validateAuthResponse should compare the callback's `iss` with. A
 * multi-tenant issuer's callback names the tenant the person signed in to, never the template:
 * when it has the template's shape it is taken here, and the ID token's `iss` (checked against the
 * template filled with its `tid`) must then be the same issuer (checkCallbackTenant).
 */
export function callbackServer(as: oauth.AuthorizationServer, params: URLSearchParams): { as: oauth.AuthorizationServer; issuer?: string } {
  const iss = params.get('iss');
  if (!iss || !isMultiTenant(as) || tenantOfIssuer(as.issuer, iss) === undefined) return { as };
  return { as: { ...as, issuer: iss }, issuer: iss };
}

/** The ID token of a multi-tenant sign-in must come from the tenant its callback named. */
export function checkCallbackTenant(callbackIssuer: string | undefined, idTokenIssuer: unknown): void {
  if (callbackIssuer === undefined || idTokenIssuer === undefined || idTokenIssuer === callbackIssuer) return;
  throw new TenantRejectedError(
    undefined,
    l10n.t('The sign-in came back from the issuer {0} but its ID token names {1}.', callbackIssuer.slice(0, 200), String(idTokenIssuer).slice(0, 200)),
  );
}

/**
 * oauth4webapi's hook for the issuer an ID token must carry (`as[_expectedIssuer](result)`), the
 * one openid-client uses for Entra ID. It is exported at runtime but not in the type declarations.
 */
const expectedIssuerHook: unknown = (oauth as unknown as Record<string, unknown>)._expectedIssuer;
const noDiscoveryCheck: unknown = (oauth as unknown as Record<string, unknown>)._nodiscoverycheck;

/** processDiscoveryResponse without its exact-issuer check (matchDiscoveredIssuer does it). */
export function discoveryWithoutIssuerCheck(): URL {
  if (typeof noDiscoveryCheck !== 'symbol') throw new Error('oauth4webapi no longer exports _nodiscoverycheck');
  // The symbol stands where the expected issuer URL goes; oauth4webapi's types do not name it.
  return noDiscoveryCheck as unknown as URL;
}

/** Makes ID tokens of `as` be checked against the template filled with their own `tid`. */
export function applyIssuerMatch(as: oauth.AuthorizationServer, match: IssuerMatch): void {
  if (match.kind !== 'tenantTemplate') return;
  if (typeof expectedIssuerHook !== 'symbol') throw new Error('oauth4webapi no longer exports _expectedIssuer');
  const template = match.template;
  Object.defineProperty(as, expectedIssuerHook, {
    value: (result: { claims: { tid?: unknown } }) => tenantIssuer(template, result.claims.tid),
    enumerable: false,
  });
}

/** True when `as` checks ID tokens against a tenant template (Entra `common`, `organizations`). */
export function isMultiTenant(as: oauth.AuthorizationServer): boolean {
  return as.issuer.includes(TENANT_PLACEHOLDER);
}

/**
 * The provider's allowed tenants (`tenants` setting) against the `tid` of a new sign-in; nothing
 * to check when the list is empty or the issuer is a single tenant.
 */
export function checkTenant(as: oauth.AuthorizationServer, allowed: readonly string[] | undefined, tid: unknown): void {
  if (!allowed?.length || !isMultiTenant(as)) return;
  const tenant = typeof tid === 'string' ? tid : undefined;
  if (tenant !== undefined && allowed.some((a) => a.toLowerCase() === tenant.toLowerCase())) return;
  throw new TenantRejectedError(
    tenant,
    tenant
      ? l10n.t('The account signed in from tenant {0}, which is not one of the tenants this provider allows ({1}).', tenant, allowed.join(', '))
      : l10n.t('The account signed in without naming its tenant (tid); this provider allows only the tenants {0}.', allowed.join(', ')),
  );
}
