/** One interface for every way of signing in; each flow is a file of its own. */
import type { CodeExchangeResult } from '../protocol/authorizationCode';
import type { Logger } from '../logger';
import type { PageStrings, PageTemplates } from './pages';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import type { FlowSetting } from '../config';

/** One way of signing in; the `oidcAuth.flow` setting adds `auto`. */
export type FlowId = Exclude<FlowSetting, 'auto'>;

/** The path of the redirect URI, on the loopback server and in the `vscode://` URI alike. */
export const CALLBACK_PATH = '/callback';

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
