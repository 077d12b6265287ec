/** One interface for every way of signing in; each flow is a file of its own. */
import type { CodeExchangeResult } from '../protocol/authorizationCode';
import type { Logger } from '../logger';
import type { PageTemplates } from './pages';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import { english, l10n, type Translate } from '../l10n';
import type { FlowSetting } from '../config';

/** One way of signing in; the `oidcAuth.flow` setting adds `auto`. */
export type FlowId = Exclude<FlowSetting, 'auto'>;

/** The path of the redirect URI, on the loopback server and in the `vscode://` URI alike. */
export const CALLBACK_PATH = '/callback';

/** Words the browser pages show; the VS Code layer passes localized ones. */
export interface PageStrings {
  signedInTitle: string;
  signedInMessage: string;
  failedTitle: string;
  failedMessage: string;
  invalidRequestMessage: string;
  notFoundMessage: string;
}

/**
 * The page strings through `t`, by default `l10n.t`: translated once the VS Code layer has set
 * the translator.
 */
export function pageStrings(t: Translate = l10n.t): PageStrings {
  return {
    signedInTitle: t('Signed in'),
    signedInMessage: t('You are signed in to VS Code. You can close this tab and return to VS Code.'),
    failedTitle: t('Sign-in failed'),
    failedMessage: t('VS Code could not complete the sign-in. Return to VS Code for details.'),
    invalidRequestMessage: t('This sign-in link is not valid or has already been used. Start the sign-in again from VS Code.'),
    notFoundMessage: t('Nothing to see here.'),
  };
}

/** English, whatever the translator (tests and tools). */
export const ENGLISH_PAGE_STRINGS: PageStrings = pageStrings(english);

/**
 * What one sign-in attempt adds to the provider's protocol (which the flow gets as its own
 * argument, protocol/providerProtocol.ts): the scopes and parameters to ask for, the cancel,
 * the time allowed, and the hooks to the person in front of VS Code.
 */
export interface SignInAttempt {
  /** Every scope sent to the IdP. */
  scopes: string[];
  /** Aborts the sign-in (the user pressed Cancel). */
  signal: AbortSignal;
  /** How long to wait for the person in the browser. */
  timeoutMs: number;
  log: Logger;
  /**
   * Opens a URL in the user's browser. When it cannot and `hasFallback` is true, it rejects with
   * a fallback OidcError; otherwise it offers the URL to copy and resolves.
   */
  openBrowser(url: URL, hasFallback: boolean): Promise<void>;
  /** True when another flow will be tried if this one cannot start. */
  hasFallback?: boolean;
  /** Updates the progress message the user sees. */
  report?(message: string): void;
  /**
   * Extra parameters (audience, resource, prompt, login_hint, …) for the authorization request
   * and the device authorization request; token requests get the provider's from the protocol.
   */
  authorizationParameters?: Record<string, string>;
  templates: PageTemplates;
  strings: PageStrings;
}

export interface SignInFlow {
  readonly id: FlowSetting;
  signIn(protocol: ProviderProtocol, attempt: SignInAttempt): Promise<CodeExchangeResult>;
}
