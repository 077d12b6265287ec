/**
 * `oidcAuth.providers`: one authentication provider per entry, `oidc.<id>`. Entries are checked
 * one by one; a bad entry is reported with the field at fault and does not stop the others.
 */
import { parseProviderConfig, type ProviderConfig } from './config';
import { ConfigError, OidcError } from './errors';
import { l10n } from './l10n';

export interface NamedProvider {
  /** The entry's id; the VS Code provider id is `oidc.<id>`. */
  id: string;
  label: string;
  config: ProviderConfig;
}

export interface NamedProvidersResult {
  providers: NamedProvider[];
  /** One line per rejected entry, naming the entry and the field. */
  problems: string[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function parseNamedProviders(value: unknown, defaultScopes: readonly string[]): NamedProvidersResult {
  const providers: NamedProvider[] = [];
  const problems: string[] = [];
  if (value === undefined || value === null) return { providers, problems };
  if (!Array.isArray(value)) return { providers, problems: [l10n.t('oidcAuth.providers must be a list of providers.')] };
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const where = `oidcAuth.providers[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(l10n.t('{0}: must be an object with id, label, issuer and clientId.', where));
      return;
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.id !== 'string' || !ID.test(e.id)) {
      problems.push(l10n.t('{0}.id: must be 1-64 letters, digits, "-" or "_", starting with a letter or digit.', where));
      return;
    }
    const id = e.id;
    if (seen.has(id.toLowerCase())) {
      problems.push(l10n.t('{0}.id: "{1}" is used by an earlier entry.', where, id));
      return;
    }
    seen.add(id.toLowerCase());
    const label = typeof e.label === 'string' && e.label.trim() ? e.label.trim() : id;
    try {
      const config = parseProviderConfig(e, defaultScopes);
      providers.push({ id, label, config });
    } catch (err) {
      const message = err instanceof OidcError ? err.message : String(err);
      problems.push(`${where} (${id}): ${err instanceof ConfigError && !err.namesField ? `${err.field}: ` : ''}${message}`);
    }
  });
  return { providers, problems };
}
