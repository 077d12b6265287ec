/**
 * Localisable messages for the core, which must not import `vscode`: `l10n.t` has the signature
 * and the `{0}` / `{name}` placeholders of `vscode.l10n.t`, formats English by default, and
 * hands every message to the translator the VS Code layer sets at activation
 * (`setTranslator(vscode.l10n.t)`). Named `l10n.t` so `@vscode/l10n-dev export` finds these
 * strings as it finds the VS Code layer's.
 */

export type L10nArg = string | number | boolean;

export interface Translate {
  (message: string, ...args: L10nArg[]): string;
  (message: string, args: Record<string, unknown>): string;
}

/** `{0}`, `{1}`, … from an argument list, or `{name}` from an object; unknown placeholders stay. */
export function format(message: string, args: readonly unknown[] | Record<string, unknown>): string {
  return message.replace(/\{([^{}]+)\}/g, (whole, key: string) => {
    const value: unknown = Array.isArray(args) ? args[Number(key)] : (args as Record<string, unknown>)[key];
    return value === undefined ? whole : String(value);
  });
}

/** Formats the English message: the default translator. */
export const english: Translate = (message: string, ...rest: unknown[]): string => {
  const [first] = rest;
  const objectArgs = rest.length === 1 && typeof first === 'object' && first !== null && !Array.isArray(first);
  return format(message, objectArgs ? (first as Record<string, unknown>) : rest);
};

let translator: Translate = english;

/** Sets where messages are translated (`vscode.l10n.t`); `undefined` goes back to English. */
export function setTranslator(fn: Translate | undefined): void {
  translator = fn ?? english;
}

/** Whether messages go through a translator (a translation may word a sentence in any order). */
export function translating(): boolean {
  return translator !== english;
}

export const l10n = {
  t: ((message: string, ...args: unknown[]) => (translator as (m: string, ...a: unknown[]) => string)(message, ...args)) as Translate,
};
