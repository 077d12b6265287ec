/** Scope lists as VS Code and the IdP see them: order and duplicates never matter. */

/** Splits, trims and removes duplicates, keeping the first occurrence's order. */
export function uniqueScopes(scopes: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const entry of scopes) {
    for (const scope of entry.split(/\s+/)) {
      if (scope) seen.add(scope);
    }
  }
  return [...seen];
}

/** A canonical key for a scope set: sorted, unique, space-separated. */
export function scopeKey(scopes: Iterable<string>): string {
  return uniqueScopes(scopes).sort().join(' ');
}

/** The scopes sent to the IdP: the caller's plus the ones always requested. */
export function requestedScopes(callerScopes: Iterable<string>, alwaysRequested: Iterable<string>): string[] {
  return uniqueScopes([...alwaysRequested, ...callerScopes]);
}

/** True when every scope in `wanted` is in `have`. */
export function coversScopes(have: Iterable<string>, wanted: Iterable<string>): boolean {
  const set = new Set(uniqueScopes(have));
  return uniqueScopes(wanted).every((s) => set.has(s));
}
